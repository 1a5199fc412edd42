// The arithmetic of io/plot's charts, apart from any drawing: where the ticks of an axis or a
// colour bar go, how their labels and a heatmap's cell values print, and the colour map.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace promoe::io {

// Tick positions inside [lo, hi] (lo < hi, both finite): about `target` multiples of a step of
// 1, 2 or 5 times a power of ten, and that step.
struct Ticks {
  std::vector<double> values;
  double step = 0;
};
Ticks linear_ticks(double lo, double hi, int target = 5);

// Ticks for a logarithmic axis over [lo, hi] (0 < lo < hi): the powers of ten inside it (every
// k-th one where there are many), else 1, 2 and 5 times them, else linear_ticks.
std::vector<double> log_ticks(double lo, double hi);

// The label of a linear tick at `value` on an axis of step `step`: just enough decimals to tell
// neighbours apart ("0.25", "-3", "1e+06"); never "-0".
std::string tick_label(double value, double step);
// The label of a log-axis tick: "%g" ("0.001", "20", "1e+06").
std::string log_tick_label(double value);

// How a heatmap prints a cell's value, given the largest magnitude among the finite cells and
// whether all of them are integers: integers whole, others with 2 decimals below 10, 1 below
// 1000, 3 significant digits above.
std::string cell_label(double value, double max_abs, bool all_integers);

// The viridis-like colour for t in [0, 1] (clamped; NaN reads as 0), interpolated between five
// anchor colours of matplotlib's viridis, dark purple to yellow.
std::array<uint8_t, 3> viridis(double t);

}  // namespace promoe::io
