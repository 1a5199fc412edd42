// The heatmap chart (write_heatmap_png): layout, cells, tick labels, colour bar.
#include "io/plot.h"

#include <algorithm>
#include <cmath>

#include "io/atomic_file.h"
#include "io/plot_canvas.h"
#include "io/plot_scale.h"

namespace promoe::io {

using namespace plot;

namespace {

const Rgb kMissing{0.6, 0.6, 0.6};  // cells that are not finite numbers
constexpr int kMaxSide = 2048;

Rgb colour_at(double t) {
  const auto c = viridis(t);
  return {c[0] / 255.0, c[1] / 255.0, c[2] / 255.0};
}

std::vector<std::string> names_or_numbers(const std::vector<std::string>& names, int64_t n) {
  if (!names.empty()) return names;
  std::vector<std::string> numbers;
  for (int64_t i = 0; i < n; ++i) numbers.push_back(std::to_string(i));
  return numbers;
}

// Every k-th tick label is drawn, k the smallest that keeps labels `extent` pixels long apart
// when neighbours are `pitch` pixels apart.
int64_t label_stride(double extent, double pitch) { return std::max<int64_t>(1, int64_t(std::ceil(extent / pitch))); }

// The colour scale's ends: the spec's where given, else the finite data's; a flat range widens so
// the colours stay defined.
std::pair<double, double> colour_range(const std::vector<double>& v, const HeatmapSpec& spec, const std::string& what) {
  PROMOE_CHECK(!std::isinf(spec.vmin) && !std::isinf(spec.vmax), what, ": vmin and vmax must be finite or NaN, got ",
               spec.vmin, " and ", spec.vmax);
  double lo = INFINITY, hi = -INFINITY;
  for (double x : v)
    if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!std::isnan(spec.vmin)) lo = spec.vmin;
  if (!std::isnan(spec.vmax)) hi = spec.vmax;
  PROMOE_CHECK(std::isfinite(lo) && std::isfinite(hi), what,
               ": the matrix has no finite value to scale the colours by (give vmin and vmax)");
  const bool given_lo = !std::isnan(spec.vmin), given_hi = !std::isnan(spec.vmax);
  PROMOE_CHECK(!(given_lo && given_hi) || lo < hi, what, ": vmin ", lo, " must be below vmax ", hi);
  if (lo < hi) return {lo, hi};
  // A flat range (or data wholly past the one given end): widen it away from a given end.
  const double anchor = given_lo ? lo : hi, span = anchor != 0 ? std::abs(anchor) * 0.2 : 1.0;
  if (given_lo) return {lo, lo + span};
  if (given_hi) return {hi - span, hi};
  return {anchor - span / 2, anchor + span / 2};
}

}  // namespace

void write_heatmap_png(const std::string& path, const Tensor& matrix, const HeatmapSpec& spec) {
  const std::string what = "heatmap " + path;
  PROMOE_CHECK(matrix.defined() && matrix.dim() == 2 && matrix.numel() > 0, what,
               ": expected a non-empty 2-D matrix, got ", describe(matrix));
  PROMOE_CHECK(is_floating(matrix.dtype()), what, ": expected a floating matrix, got ", describe(matrix));
  PROMOE_CHECK(matrix.device().is_cpu(), what, ": the matrix must be on the CPU, got ", describe(matrix));
  const int64_t R = matrix.size(0), C = matrix.size(1);
  PROMOE_CHECK(R <= kMaxSide && C <= kMaxSide, what, ": at most ", kMaxSide, " rows and columns, got ", R, "x", C);
  PROMOE_CHECK(spec.row_names.empty() || int64_t(spec.row_names.size()) == R, what, ": ", spec.row_names.size(),
               " row names for ", R, " rows");
  PROMOE_CHECK(spec.col_names.empty() || int64_t(spec.col_names.size()) == C, what, ": ", spec.col_names.size(),
               " column names for ", C, " columns");
  const std::vector<double> v = matrix.to_vector<double>();
  const auto [lo, hi] = colour_range(v, spec, what);
  const std::vector<std::string> rows = names_or_numbers(spec.row_names, R), cols = names_or_numbers(spec.col_names, C);

  // Measured on a scratch canvas, then laid out left to right: y label, row names, cells, colour
  // bar, its tick labels, its caption; top to bottom: title, cells, column names, x label.
  const Canvas probe(1, 1, what);
  // Square cells of up to 48 pixels; a small matrix's cells widen to hold their column's name.
  const int cell_h = int(std::clamp<int64_t>(560 / std::max(R, C), 1, 48));
  const double tick_h = probe.text_height(kTickFont), label_h = probe.text_height(kLabelFont);
  const double row_w = probe.widest(rows, kTickFont), col_w = probe.widest(cols, kTickFont);
  const bool widen = cell_h >= 16 && col_w + 8 > cell_h && col_w + 8 <= 80;
  const int cell_w = widen ? int(std::ceil(col_w + 8)) : cell_h;
  const bool cols_vertical = col_w + 6 > cell_w;
  const int64_t row_stride = label_stride(tick_h + 1, cell_h);
  const int64_t col_stride = label_stride(cols_vertical ? tick_h + 1 : col_w + 6, cell_w);
  const Ticks bar_ticks = linear_ticks(lo, hi, 5);
  std::vector<std::string> bar_labels;
  for (double t : bar_ticks.values) bar_labels.push_back(tick_label(t, bar_ticks.step));

  const double ylab_w = spec.y_label.empty() ? 0 : label_h + 8;
  const double grid_w = double(C * cell_w), grid_h = double(R * cell_h);
  // The colour bar spans the cells, and at least 160 pixels and its caption's length.
  const double caption_w = spec.colour_label.empty() ? 0 : probe.text_width(spec.colour_label, kLabelFont);
  const double bar_h = std::max({grid_h, 160.0, std::ceil(caption_w)}), bar_w = 16, bar_gap = 20;
  const double content_w = ylab_w + row_w + 8 + grid_w + bar_gap + bar_w + 7 + probe.widest(bar_labels, kTickFont) +
                           (spec.colour_label.empty() ? 0 : 10 + label_h);
  const double title_w = spec.title.empty() ? 0 : probe.text_width(spec.title, kTitleFont);
  const int width = int(std::ceil(std::max(content_w, title_w) + 2 * kMargin));
  const double title_h = spec.title.empty() ? 0 : probe.text_height(kTitleFont) + 12;
  const double col_h = (cols_vertical ? col_w : tick_h) + 10;
  const double below = col_h + (spec.x_label.empty() ? 0 : label_h + 6);
  const int height = int(std::ceil(kMargin + title_h + std::max(grid_h + below, bar_h + tick_h / 2) + kMargin));

  Canvas canvas(width, height, what);
  const double left = std::floor((width - content_w) / 2), top = kMargin + title_h;
  const double grid_x = std::floor(left + ylab_w + row_w + 8), grid_y = top;
  if (!spec.title.empty()) canvas.text(spec.title, width / 2.0, kMargin, kTitleFont, kInk, HAlign::Center, VAlign::Top);
  if (!spec.y_label.empty())
    canvas.text(spec.y_label, left, grid_y + grid_h / 2, kLabelFont, kInk, HAlign::Center, VAlign::Top, true);
  if (!spec.x_label.empty())
    canvas.text(spec.x_label, grid_x + grid_w / 2, grid_y + grid_h + col_h, kLabelFont, kInk, HAlign::Center,
                VAlign::Top);

  // Cells, and their values where asked and where they fit.
  double max_abs = 0;
  bool all_integers = true;
  for (double x : v)
    if (std::isfinite(x)) max_abs = std::max(max_abs, std::abs(x)), all_integers = all_integers && x == std::round(x);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const double x = v[size_t(r * C + c)], t = (x - lo) / (hi - lo);
      const double cx = grid_x + double(c * cell_w), cy = grid_y + double(r * cell_h);
      canvas.fill_rect(cx, cy, cell_w, cell_h, std::isfinite(x) ? colour_at(t) : kMissing);
      if (!spec.annotate || !std::isfinite(x)) continue;
      const std::string s = cell_label(x, max_abs, all_integers);
      Font f{std::min(11.0, cell_h * 0.32)};
      f.size *= std::min(1.0, (cell_w - 4) / std::max(1.0, canvas.text_width(s, f)));
      if (f.size < 6) continue;
      const Rgb ink = t < 0.6 ? Rgb{1, 1, 1} : Rgb{0, 0, 0};
      canvas.text(s, cx + cell_w / 2.0, cy + cell_h / 2.0, f, ink, HAlign::Center, VAlign::Middle);
    }
  canvas.frame_rect(grid_x - 1, grid_y - 1, grid_w + 2, grid_h + 2, kFrameInk);

  // Row names right-aligned beside the cells; column names beneath, turned when wider than a cell.
  for (int64_t r = 0; r < R; r += row_stride) {
    const double y = std::floor(grid_y + (double(r) + 0.5) * cell_h) + 0.5;
    canvas.line(grid_x - 4, y, grid_x - 1, y, kFrameInk);
    canvas.text(rows[size_t(r)], grid_x - 6, y, kTickFont, kInk, HAlign::Right, VAlign::Middle);
  }
  for (int64_t c = 0; c < C; c += col_stride) {
    const double x = std::floor(grid_x + (double(c) + 0.5) * cell_w) + 0.5, y = grid_y + grid_h + 1;
    canvas.line(x, y, x, y + 3, kFrameInk);
    if (cols_vertical)
      canvas.text(cols[size_t(c)], x, y + 5, kTickFont, kInk, HAlign::Right, VAlign::Middle, true);
    else
      canvas.text(cols[size_t(c)], x, y + 5, kTickFont, kInk, HAlign::Center, VAlign::Top);
  }

  // The colour bar: vmax at the top, one colour per pixel row, ticks and their values to its right.
  const double bar_x = grid_x + grid_w + bar_gap, bar_y = grid_y;
  for (int y = 0; y < int(bar_h); ++y) canvas.fill_rect(bar_x, bar_y + y, bar_w, 1, colour_at(1 - (y + 0.5) / bar_h));
  canvas.frame_rect(bar_x - 1, bar_y - 1, bar_w + 2, std::floor(bar_h) + 2, kFrameInk);
  for (size_t i = 0; i < bar_ticks.values.size(); ++i) {
    const double y = bar_y + (hi - bar_ticks.values[i]) / (hi - lo) * (bar_h - 1) + 0.5;
    canvas.line(bar_x + bar_w, y, bar_x + bar_w + 4, y, kFrameInk);
    canvas.text(bar_labels[i], bar_x + bar_w + 7, y, kTickFont, kInk, HAlign::Left, VAlign::Middle);
  }
  if (!spec.colour_label.empty())
    canvas.text(spec.colour_label, left + content_w, bar_y + bar_h / 2, kLabelFont, kInk, HAlign::Center,
                VAlign::Bottom, true);
  write_file_atomic(path, canvas.png());
}

}  // namespace promoe::io
