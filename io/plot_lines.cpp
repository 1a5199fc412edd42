// The line chart (write_line_plot_png): axes with ticks and grid lines, error bands, lines,
// markers and a legend placed in the emptiest corner.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "io/atomic_file.h"
#include "io/plot.h"
#include "io/plot_canvas.h"
#include "io/plot_scale.h"

namespace promoe::io {

using namespace plot;

namespace {

constexpr int kWidth = 760, kHeight = 460;
constexpr size_t kMaxMarkedPoints = 60;
const Rgb kGrid{0.88, 0.88, 0.88};
// matplotlib's tab10 colours, one per series in turn.
const Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
                        {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
                        {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812}};

Rgb series_colour(size_t k) { return kPalette[k % std::size(kPalette)]; }

void check_series(const std::vector<Series>& series, bool log_y, const std::string& what) {
  PROMOE_CHECK(!series.empty(), what, ": no series to plot");
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const std::string name = "series " + std::to_string(k) + (s.name.empty() ? "" : " '" + s.name + "'");
    const size_t n = s.x.size();
    PROMOE_CHECK(n > 0, what, ": ", name, " has no points");
    PROMOE_CHECK(s.y.size() == n, what, ": ", name, " has ", n, " x values but ", s.y.size(), " y values");
    PROMOE_CHECK((s.y_lo.empty() && s.y_hi.empty()) || (s.y_lo.size() == n && s.y_hi.size() == n), what, ": ", name,
                 " has an error band of ", s.y_lo.size(), " y_lo and ", s.y_hi.size(), " y_hi values for ", n,
                 " points (both must be empty or have one per point)");
    auto check = [&](const std::vector<double>& values, const char* field, bool on_y) {
      for (size_t i = 0; i < values.size(); ++i) {
        PROMOE_CHECK(std::isfinite(values[i]), what, ": ", name, " has ", field, "[", i, "] = ", values[i],
                     ", which cannot be drawn");
        PROMOE_CHECK(!(on_y && log_y) || values[i] > 0, what, ": ", name, " has ", field, "[", i, "] = ", values[i],
                     ", which a log y axis cannot show");
      }
    };
    check(s.x, "x", false);
    check(s.y, "y", true);
    check(s.y_lo, "y_lo", true);
    check(s.y_hi, "y_hi", true);
  }
}

// One axis: the data's range padded by 5 % (of decades on a log axis), its ticks and labels, and
// the map onto pixels p0 (at lo) .. p1 (at hi).
struct Axis {
  bool log = false;
  double lo = 0, hi = 1;  // in axis units: the value, or its log10 on a log axis
  std::vector<double> ticks;
  std::vector<std::string> labels;
  double p0 = 0, p1 = 1;

  Axis(double data_lo, double data_hi, bool log_scale, int target_ticks) : log(log_scale) {
    lo = log ? std::log10(data_lo) : data_lo, hi = log ? std::log10(data_hi) : data_hi;
    if (lo == hi) {
      const double half = log ? 0.5 : lo != 0 ? std::abs(lo) * 0.1 : 1.0;
      lo -= half, hi += half;
    } else {
      const double pad = (hi - lo) * 0.05;
      lo -= pad, hi += pad;
    }
    if (log) {
      ticks = log_ticks(std::pow(10.0, lo), std::pow(10.0, hi));
      for (double t : ticks) labels.push_back(log_tick_label(t));
    } else {
      const Ticks t = linear_ticks(lo, hi, target_ticks);
      ticks = t.values;
      for (double v : ticks) labels.push_back(tick_label(v, t.step));
    }
  }
  double pixel(double v) const { return p0 + ((log ? std::log10(v) : v) - lo) / (hi - lo) * (p1 - p0); }
};

struct Box {
  double x, y, w, h;
  bool holds(double px, double py) const { return px >= x && px <= x + w && py >= y && py <= y + h; }
};

// The legend's box: the corner of the plot area (top right, top left, bottom right, bottom left)
// over the fewest drawn points.
Box legend_box(double w, double h, const Box& plot, const std::vector<std::pair<double, double>>& points) {
  const double inset = 8;
  const double xs[2] = {plot.x + plot.w - inset - w, plot.x + inset},
               ys[2] = {plot.y + inset, plot.y + plot.h - inset - h};
  Box best{xs[0], ys[0], w, h};
  size_t fewest = SIZE_MAX;
  for (double y : ys)
    for (double x : xs) {
      const Box b{x, y, w, h};
      const size_t n =
          size_t(std::count_if(points.begin(), points.end(), [&](auto& p) { return b.holds(p.first, p.second); }));
      if (n < fewest) fewest = n, best = b;
    }
  return best;
}

void trace(cairo_t* cr, const std::vector<double>& x, const std::vector<double>& y, const Axis& ax, const Axis& ay) {
  for (size_t i = 0; i < x.size(); ++i) cairo_line_to(cr, ax.pixel(x[i]), ay.pixel(y[i]));
}

}  // namespace

void write_line_plot_png(const std::string& path, const std::vector<Series>& series, const LinePlotSpec& spec) {
  const std::string what = "line plot " + path;
  check_series(series, spec.log_y, what);
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : series) {
    for (double x : s.x) x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
    for (const auto* ys : {&s.y, &s.y_lo, &s.y_hi})
      for (double y : *ys) y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
  }
  Axis ax(x_lo, x_hi, false, 7), ay(y_lo, y_hi, spec.log_y, 6);

  Canvas canvas(kWidth, kHeight, what);
  cairo_t* cr = canvas.cr();
  const double tick_h = canvas.text_height(kTickFont), label_h = canvas.text_height(kLabelFont);
  Font title_font = kTitleFont;
  if (!spec.title.empty())
    title_font.size *= std::min(1.0, (kWidth - 2 * kMargin) / canvas.text_width(spec.title, kTitleFont));
  const double title_h = spec.title.empty() ? 0 : canvas.text_height(title_font) + 12;
  const double ylab_w = spec.y_label.empty() ? 0 : label_h + 8;
  // The plot area leaves room for the title, the axis labels, and tick labels half past its ends.
  const double left = std::round(kMargin + ylab_w + canvas.widest(ay.labels, kTickFont) + 8);
  const double top = std::round(kMargin + title_h + tick_h / 2);
  const double right = std::round(kWidth - kMargin - canvas.widest(ax.labels, kTickFont) / 2);
  const double bottom = std::round(kHeight - kMargin - (spec.x_label.empty() ? 0 : label_h + 6) - tick_h - 6);
  const Box area{left, top, right - left, bottom - top};
  ax.p0 = area.x, ax.p1 = area.x + area.w;
  ay.p0 = area.y + area.h, ay.p1 = area.y;

  // Grid lines and tick labels, then the frame over them.
  for (size_t i = 0; i < ax.ticks.size(); ++i) {
    const double x = std::floor(ax.pixel(ax.ticks[i])) + 0.5;
    canvas.line(x, area.y, x, area.y + area.h, kGrid);
    canvas.line(x, area.y + area.h, x, area.y + area.h + 4, kFrameInk);
    canvas.text(ax.labels[i], x, area.y + area.h + 6, kTickFont, kInk, HAlign::Center, VAlign::Top);
  }
  for (size_t i = 0; i < ay.ticks.size(); ++i) {
    const double y = std::floor(ay.pixel(ay.ticks[i])) + 0.5;
    canvas.line(area.x, y, area.x + area.w, y, kGrid);
    canvas.line(area.x - 4, y, area.x, y, kFrameInk);
    canvas.text(ay.labels[i], area.x - 6, y, kTickFont, kInk, HAlign::Right, VAlign::Middle);
  }
  canvas.frame_rect(area.x, area.y, area.w + 1, area.h + 1, kFrameInk);

  // The data, clipped to the plot area: bands first, so every line lies on top of every band.
  cairo_save(cr);
  cairo_rectangle(cr, area.x, area.y, area.w, area.h);
  cairo_clip(cr);
  std::vector<std::pair<double, double>> drawn;
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    if (s.y_lo.empty()) continue;
    trace(cr, s.x, s.y_hi, ax, ay);
    std::vector<double> rx(s.x.rbegin(), s.x.rend()), rlo(s.y_lo.rbegin(), s.y_lo.rend());
    trace(cr, rx, rlo, ax, ay);
    cairo_close_path(cr);
    canvas.set_colour(series_colour(k), 0.2);
    cairo_fill(cr);
  }
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_width(cr, 2);
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    trace(cr, s.x, s.y, ax, ay);
    canvas.set_colour(series_colour(k));
    cairo_stroke(cr);
    for (size_t i = 0; i < s.x.size(); ++i) drawn.emplace_back(ax.pixel(s.x[i]), ay.pixel(s.y[i]));
    if (s.x.size() > kMaxMarkedPoints) continue;
    for (size_t i = 0; i < s.x.size(); ++i) {
      cairo_new_sub_path(cr);
      cairo_arc(cr, ax.pixel(s.x[i]), ay.pixel(s.y[i]), 3.5, 0, 2 * std::numbers::pi);
    }
    canvas.set_colour(series_colour(k));
    cairo_fill_preserve(cr);
    canvas.set_colour({1, 1, 1});
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    cairo_set_line_width(cr, 2);
  }
  cairo_restore(cr);

  // The legend: a line (and marker) sample and the name of every named series.
  std::vector<size_t> named;
  std::vector<std::string> names;
  for (size_t k = 0; k < series.size(); ++k)
    if (!series[k].name.empty()) named.push_back(k), names.push_back(series[k].name);
  if (!named.empty()) {
    const double row_h = tick_h + 4, sample_w = 22;
    const Box b = legend_box(10 + sample_w + 6 + canvas.widest(names, kTickFont) + 10, 8 + row_h * double(named.size()),
                             area, drawn);
    cairo_rectangle(cr, b.x, b.y, b.w, b.h);
    canvas.set_colour({1, 1, 1}, 0.88);
    cairo_fill(cr);
    canvas.frame_rect(b.x, b.y, b.w, b.h, {0.75, 0.75, 0.75});
    for (size_t i = 0; i < named.size(); ++i) {
      const double y = b.y + 4 + row_h * (double(i) + 0.5), x = b.x + 10;
      const Rgb c = series_colour(named[i]);
      canvas.line(x, y, x + sample_w, y, c, 2);
      if (series[named[i]].x.size() <= kMaxMarkedPoints) {
        cairo_arc(cr, x + sample_w / 2, y, 3.5, 0, 2 * std::numbers::pi);
        canvas.set_colour(c);
        cairo_fill(cr);
      }
      canvas.text(names[i], x + sample_w + 6, y, kTickFont, kInk, HAlign::Left, VAlign::Middle);
    }
  }

  if (!spec.title.empty())
    canvas.text(spec.title, kWidth / 2.0, kMargin, title_font, kInk, HAlign::Center, VAlign::Top);
  if (!spec.x_label.empty())
    canvas.text(spec.x_label, area.x + area.w / 2, kHeight - kMargin, kLabelFont, kInk, HAlign::Center, VAlign::Bottom);
  if (!spec.y_label.empty())
    canvas.text(spec.y_label, kMargin, area.y + area.h / 2, kLabelFont, kInk, HAlign::Center, VAlign::Top, true);
  write_file_atomic(path, canvas.png());
}

}  // namespace promoe::io
