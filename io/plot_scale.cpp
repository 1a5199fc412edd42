// Tick placement, tick and cell labels, and the colour map of io/plot's charts.
#include "io/plot_scale.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace promoe::io {

namespace {

std::string printf_string(const char* format, double value, int precision = -1) {
  char buf[64];
  if (precision < 0)
    std::snprintf(buf, sizeof buf, format, value);
  else
    std::snprintf(buf, sizeof buf, format, precision, value);
  std::string s = buf;
  // A value that rounds to zero prints as "-0", "-0.00": drop the sign.
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

}  // namespace

Ticks linear_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  Ticks t;
  t.step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * magnitude;
  const double slack = t.step * 1e-9;  // a tick a rounding error outside the range still counts
  for (double k = std::ceil((lo - slack) / t.step); k * t.step <= hi + slack; k += 1.0) {
    const double v = k * t.step;
    t.values.push_back(std::abs(v) < slack ? 0.0 : v);
  }
  return t;
}

std::vector<double> log_ticks(double lo, double hi) {
  const double slack = 1e-9;
  const int first = int(std::ceil(std::log10(lo) - slack)), last = int(std::floor(std::log10(hi) + slack));
  std::vector<double> ticks;
  if (last - first + 1 >= 2) {
    const int every = (last - first) / 6 + 1;  // at most 7 labelled decades
    for (int k = first; k <= last; k += every) ticks.push_back(std::pow(10.0, k));
    return ticks;
  }
  for (int k = first - 1; k <= last; ++k)
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, k);
      if (v >= lo * (1 - slack) && v <= hi * (1 + slack)) ticks.push_back(v);
    }
  if (ticks.size() >= 2) return ticks;
  return linear_ticks(lo, hi, 4).values;
}

std::string tick_label(double value, double step) {
  if (std::max(std::abs(value), step) >= 1e6 || step < 1e-5) return printf_string("%g", value);
  const int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  return printf_string("%.*f", value, decimals);
}

std::string log_tick_label(double value) { return printf_string("%g", value); }

std::string cell_label(double value, double max_abs, bool all_integers) {
  if (all_integers && max_abs < 1e6) return printf_string("%.0f", value);
  if (max_abs < 10) return printf_string("%.2f", value);
  if (max_abs < 1000) return printf_string("%.1f", value);
  return printf_string("%.3g", value);
}

std::array<uint8_t, 3> viridis(double t) {
  static const double anchors[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0) * 4.0;
  const int k = std::min(int(t), 3);
  const double f = t - k;
  std::array<uint8_t, 3> rgb;
  for (int c = 0; c < 3; ++c) rgb[c] = uint8_t(std::lround(anchors[k][c] + f * (anchors[k + 1][c] - anchors[k][c])));
  return rgb;
}

}  // namespace promoe::io
