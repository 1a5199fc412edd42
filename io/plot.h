// Charts as PNG files a person can read: a heatmap of a labelled matrix with a colour bar, and a
// line plot of series with error bands and a legend. Drawn with cairo, text in DejaVu Sans
// (io/plot_canvas.h); written atomically (io/atomic_file.h), so a kill never leaves half a PNG.
// Bad input (an empty matrix, lengths that disagree, values that cannot be drawn) and unwritable
// paths throw promoe::Error with one line naming the file.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::io {

struct HeatmapSpec {
  std::string title, x_label, y_label, colour_label;  // colour_label: the colour bar's caption
  std::vector<std::string> row_names, col_names;      // tick labels; empty: numbered 0..n-1
  // The values at the two ends of the colour scale (cells beyond them take the end colours).
  double vmin = std::numeric_limits<double>::quiet_NaN(),
         vmax = std::numeric_limits<double>::quiet_NaN();  // NaN: from the data
  bool annotate = false;                                   // print each cell's value in it (small matrices)
};
// matrix: (rows, cols), any float dtype, on the CPU. A readable PNG: title, axis labels, row/column
// names, a colour bar with its scale. Rows run top to bottom, columns left to right; a cell that
// is not a finite number is grey. Tick labels are thinned where cells are smaller than the text,
// and annotations left out where they no longer fit a cell at 6 px.
void write_heatmap_png(const std::string& path, const Tensor& matrix, const HeatmapSpec& spec);

struct Series {
  std::string name;                // legend entry
  std::vector<double> x, y;        // points, same length
  std::vector<double> y_lo, y_hi;  // optional error band (same length as x), empty for none
};
struct LinePlotSpec {
  std::string title, x_label, y_label;
  bool log_y = false;
};
// Lines with markers and shaded error bands, axes with ticks and tick labels, a legend. Points
// are joined in the order given; markers are drawn for series of at most 60 points. Every value
// must be finite, and positive on a log_y axis. Series without a name stay out of the legend.
void write_line_plot_png(const std::string& path, const std::vector<Series>& series, const LinePlotSpec& spec);

}  // namespace promoe::io
