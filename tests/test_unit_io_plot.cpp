// io/plot: heatmaps and line plots decode back (io/png.h's reader) to pictures with a title, cells
// in the colour map's colours, a colour bar, lines and bands in the series' colours; bad input
// and unwritable paths give one-line errors and leave no file. io/plot_scale: ticks and labels.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

#include "expect_error.h"
#include "io/plot.h"
#include "io/plot_scale.h"
#include "io/png.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"

using namespace promoe;
using namespace promoe::io;
using promoe::test::expect_one_line_error;
using promoe::test::TempDir;

namespace {

using Rgb = std::array<int, 3>;

struct Picture {
  Image img;
  Rgb at(int64_t x, int64_t y) const {
    const uint8_t* p = &img.pixels[size_t((y * img.width + x) * 3)];
    return {p[0], p[1], p[2]};
  }
  // Pixels in [x0, x1) x [y0, y1) for which `keep` holds.
  int64_t count(int64_t x0, int64_t y0, int64_t x1, int64_t y1, const std::function<bool(Rgb)>& keep) const {
    int64_t n = 0;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x) n += keep(at(x, y));
    return n;
  }
  int64_t count(const std::function<bool(Rgb)>& keep) const { return count(0, 0, img.width, img.height, keep); }
};

Picture load(const std::string& path) { return {read_png(path, 3)}; }

bool is_background(Rgb c) { return c == Rgb{255, 255, 255}; }
// Text and frames are drawn in dark grey: all channels low and alike.
bool is_ink(Rgb c) {
  return std::max({c[0], c[1], c[2]}) < 110 && std::max({c[0], c[1], c[2]}) - std::min({c[0], c[1], c[2]}) < 16;
}
// The colour map's colours are far from grey.
bool is_coloured(Rgb c) { return std::max({c[0], c[1], c[2]}) - std::min({c[0], c[1], c[2]}) > 40; }
Rgb viridis_rgb(double t) {
  auto v = viridis(t);
  return {v[0], v[1], v[2]};
}
auto equals(Rgb want) {
  return [want](Rgb c) { return c == want; };
}
bool near(Rgb c, Rgb want) {
  for (int k = 0; k < 3; ++k)
    if (std::abs(c[k] - want[k]) > 4) return false;
  return true;
}

// The run of coloured pixels in a column: its length, top and bottom; the colour bar is the
// longest such run right of the cells.
struct Run {
  int64_t length = 0, top = 0, bottom = 0;
};
Run longest_coloured_run(const Picture& p, int64_t x) {
  Run best, now;
  for (int64_t y = 0; y < p.img.height; ++y) {
    if (!is_coloured(p.at(x, y))) {
      now.length = 0;
      continue;
    }
    if (now.length++ == 0) now.top = y;
    now.bottom = y;
    if (now.length > best.length) best = now;
  }
  return best;
}

// Specs built field by field: GCC 12 warns about designated initializers that leave out a string.
HeatmapSpec range_spec(double vmin, double vmax) {
  HeatmapSpec s;
  s.vmin = vmin, s.vmax = vmax;
  return s;
}
HeatmapSpec names_spec(std::vector<std::string> rows, std::vector<std::string> cols) {
  HeatmapSpec s;
  s.row_names = std::move(rows), s.col_names = std::move(cols);
  return s;
}
LinePlotSpec log_spec(bool log_y) {
  LinePlotSpec s;
  s.log_y = log_y;
  return s;
}

HeatmapSpec labelled_spec() {
  HeatmapSpec s;
  s.title = "Block 5: share of each class's tokens per expert";
  s.x_label = "expert";
  s.y_label = "class";
  s.colour_label = "share of the class's tokens";
  s.row_names = {"T-shirt/top", "trouser", "null"};
  s.col_names = {"expert 0", "expert 1", "uncond", "expert 3"};
  return s;
}

}  // namespace

TEST_CASE("a heatmap has its title, names, cells in the colour map and a colour bar") {
  TempDir dir("plot_heat");
  const std::string path = dir.file("heat.png");
  // Values 0..11 row by row; one NaN cell.
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[size_t(i)] = float(i);
  v[5] = NAN;
  write_heatmap_png(path, raw::from_vector<float>(v, {3, 4}), labelled_spec());
  CHECK(dir.listing() == "heat.png ");
  const Picture p = load(path);
  CHECK(p.img.width >= 4 * 40);
  CHECK(p.img.width <= 1200);
  CHECK(p.img.height >= 3 * 40);
  CHECK(p.img.height <= 800);
  CHECK(p.count([](Rgb c) { return !is_background(c); }) > p.img.width * p.img.height / 5);

  // The cells: the smallest value dark purple, the largest yellow, each a solid block; NaN grey.
  const int64_t cell_area = p.count(equals(viridis_rgb(0.0)));
  CHECK(cell_area >= 40 * 40);
  CHECK(p.count(equals(viridis_rgb(1.0))) >= cell_area * 9 / 10);
  CHECK(p.count(equals({153, 153, 153})) >= cell_area * 9 / 10);

  // Where the cells are: the bounding box of the dark-purple block (cell 0, 0) starts the grid.
  int64_t grid_x = p.img.width, grid_y = p.img.height;
  for (int64_t y = 0; y < p.img.height; ++y)
    for (int64_t x = 0; x < p.img.width; ++x)
      if (p.at(x, y) == viridis_rgb(0.0)) grid_x = std::min(grid_x, x), grid_y = std::min(grid_y, y);
  // The title above the cells, the row names and y label left of them, in ink.
  CHECK(p.count(0, 0, p.img.width, grid_y - 2, is_ink) > 200);
  CHECK(p.count(0, grid_y, grid_x - 2, p.img.height, is_ink) > 200);

  // The colour bar: the longest column of colour right of the cells runs yellow at the top to
  // purple at the bottom, with tick labels in ink beside it.
  Run bar;
  int64_t bar_x = 0;
  for (int64_t x = p.img.width * 3 / 5; x < p.img.width; ++x) {
    const Run r = longest_coloured_run(p, x);
    if (r.length > bar.length) bar = r, bar_x = x;
  }
  CHECK(bar.length >= 140);
  CHECK(near(p.at(bar_x, bar.top), viridis_rgb(1.0)));
  CHECK(near(p.at(bar_x, bar.bottom), viridis_rgb(0.0)));
  CHECK(near(p.at(bar_x, (bar.top + bar.bottom) / 2), viridis_rgb(0.5)));
  CHECK(p.count(bar_x + 4, bar.top, p.img.width, bar.bottom, is_ink) > 150);
}

TEST_CASE("a heatmap takes its colour range from the spec, numbers its rows, and prints values") {
  TempDir dir("plot_heat_range");
  HeatmapSpec spec = range_spec(-1, 1);
  spec.annotate = true;
  write_heatmap_png(dir.file("cos.png"), raw::from_vector<double>({0, 1, -1, 0}, {2, 2}), spec);
  const Picture p = load(dir.file("cos.png"));
  // 0 sits mid-scale; 1 and -1 take the ends. Printed values take some pixels from each cell.
  const int64_t mid = p.count(equals(viridis_rgb(0.5)));
  CHECK(mid > 2 * 30 * 30);
  CHECK(p.count(equals(viridis_rgb(1.0))) > 30 * 30);
  CHECK(p.count(equals(viridis_rgb(0.0))) > 30 * 30);
  // Without a title the top margin stays blank; white value text lies on the dark cells.
  CHECK(p.count(0, 0, p.img.width, 5, [](Rgb c) { return !is_background(c); }) == 0);
  CHECK(p.count(equals({255, 255, 255})) > 0);

  write_heatmap_png(dir.file("plain.png"), raw::from_vector<double>({0, 1, -1, 0}, {2, 2}), range_spec(-1, 1));
  CHECK(load(dir.file("plain.png")).count(equals(viridis_rgb(0.5))) > mid);

  // A flat matrix, and bf16 values, still draw.
  write_heatmap_png(dir.file("flat.png"), raw::full({2, 3}, 7.0), {});
  write_heatmap_png(dir.file("bf16.png"), raw::to(raw::from_vector<float>({1, 2}, {1, 2}), DType::BF16), {});
  CHECK(load(dir.file("bf16.png")).count(equals(viridis_rgb(1.0))) > 30 * 30);
}

TEST_CASE("a heatmap of many cells thins its tick labels and stays a sensible size") {
  TempDir dir("plot_heat_big");
  Tensor m = raw::reshape(raw::arange(200 * 30, DType::F32), {200, 30});
  HeatmapSpec spec;
  spec.title = "many rows";
  spec.annotate = true;
  write_heatmap_png(dir.file("big.png"), m, spec);
  const Picture p = load(dir.file("big.png"));
  CHECK(p.img.width < 800);
  CHECK(p.img.height < 900);
  CHECK(p.count(equals(viridis_rgb(0.0))) > 0);
}

TEST_CASE("heatmap errors are one line naming the file and leave nothing behind") {
  TempDir dir("plot_heat_err");
  const std::string path = dir.file("h.png");
  const Tensor m = raw::zeros({3, 4});
  expect_one_line_error([&] { write_heatmap_png(path, raw::zeros({0, 4}), {}); }, {path, "non-empty 2-D"});
  expect_one_line_error([&] { write_heatmap_png(path, raw::zeros({4}), {}); }, {path, "non-empty 2-D"});
  expect_one_line_error([&] { write_heatmap_png(path, Tensor(), {}); }, {path});
  expect_one_line_error([&] { write_heatmap_png(path, raw::zeros({2, 2}, DType::I64), {}); }, {path, "floating"});
  expect_one_line_error([&] { write_heatmap_png(path, m, names_spec({"a", "b"}, {})); }, {"2 row names for 3 rows"});
  expect_one_line_error([&] { write_heatmap_png(path, m, names_spec({}, {"a"})); }, {"1 column names for 4 columns"});
  expect_one_line_error([&] { write_heatmap_png(path, m, range_spec(1, 1)); }, {"vmin 1 must be below vmax 1"});
  expect_one_line_error([&] { write_heatmap_png(path, m, range_spec(NAN, INFINITY)); }, {"finite or NaN"});
  expect_one_line_error([&] { write_heatmap_png(path, raw::full({2, 2}, NAN), {}); }, {path, "no finite value"});
  expect_one_line_error([&] { write_heatmap_png(path, raw::zeros({3000, 2}), {}); }, {"at most 2048"});
  const std::string unwritable = dir.file("no/such/dir/h.png");
  expect_one_line_error([&] { write_heatmap_png(unwritable, m, {}); }, {unwritable});
  CHECK(dir.listing() == "");
  // All-NaN cells draw once the range is given.
  write_heatmap_png(path, raw::full({2, 2}, NAN), range_spec(0, 1));
  CHECK(load(path).count(equals({153, 153, 153})) > 4 * 30 * 30);
}

TEST_CASE("a line plot has lines and markers in the series colours, a band, ticks and a legend") {
  TempDir dir("plot_lines");
  Series a{"train", {}, {}, {}, {}}, b{"validation", {}, {}, {}, {}};
  for (int i = 0; i <= 20; ++i) {
    a.x.push_back(i * 50), a.y.push_back(1.7 * std::exp(-i / 6.0) + 0.2);
    b.x.push_back(i * 50), b.y.push_back(1.5 * std::exp(-i / 5.0) + 0.3);
    b.y_lo.push_back(b.y.back() - 0.1), b.y_hi.push_back(b.y.back() + 0.1);
  }
  const std::string path = dir.file("loss.png");
  write_line_plot_png(path, {a, b}, {.title = "Loss", .x_label = "step", .y_label = "loss"});
  CHECK(dir.listing() == "loss.png ");
  const Picture p = load(path);
  CHECK(p.img.width == 760);
  CHECK(p.img.height == 460);
  CHECK(p.count([](Rgb c) { return !is_background(c); }) > 760 * 460 / 20);
  // tab10 blue and orange lines; the orange band is a pale orange (20 % over white).
  CHECK(p.count(equals({31, 119, 180})) > 300);
  CHECK(p.count(equals({255, 127, 14})) > 300);
  CHECK(p.count([](Rgb c) { return c[0] == 255 && c[1] > 215 && c[1] < 240 && c[2] > 195 && c[2] < 215; }) > 2000);
  // Ink: the title at the top, tick labels left of and under the plot area.
  CHECK(p.count(0, 0, 760, 30, is_ink) > 100);
  CHECK(p.count(0, 40, 70, 400, is_ink) > 300);
  CHECK(p.count(60, 400, 760, 460, is_ink) > 300);

  // A log axis, a single point, and unnamed series draw too.
  write_line_plot_png(path, {{"", {1, 2, 3}, {0.01, 1, 100}, {}, {}}, {"one", {2}, {5}, {}, {}}}, log_spec(true));
  CHECK(load(path).count(equals({31, 119, 180})) > 100);
  write_line_plot_png(path, {{"solo", {3}, {7}, {6}, {8}}}, {});
  CHECK(load(path).count(equals({31, 119, 180})) > 20);
}

TEST_CASE("line plot errors are one line naming the file and the series") {
  TempDir dir("plot_lines_err");
  const std::string path = dir.file("l.png");
  auto plot = [&](std::vector<Series> s, bool log_y = false) {
    return [=] { write_line_plot_png(path, s, log_spec(log_y)); };
  };
  expect_one_line_error(plot({}), {path, "no series"});
  expect_one_line_error(plot({{"loss", {}, {}, {}, {}}}), {"series 0 'loss' has no points"});
  expect_one_line_error(plot({{"a", {1}, {1}, {}, {}}, {"b", {1, 2}, {1}, {}, {}}}),
                        {"series 1 'b' has 2 x values but 1 y"});
  expect_one_line_error(plot({{"", {1, 2}, {1, 2}, {0}, {2, 3}}}), {"series 0 has an error band of 1 y_lo and 2 y_hi"});
  expect_one_line_error(plot({{"a", {1, 2}, {1, NAN}, {}, {}}}), {"y[1] = nan", "cannot be drawn"});
  expect_one_line_error(plot({{"a", {1, INFINITY}, {1, 2}, {}, {}}}), {"x[1] = inf"});
  expect_one_line_error(plot({{"a", {1, 2}, {1, 0}, {}, {}}}, true), {"y[1] = 0", "log y axis"});
  expect_one_line_error(plot({{"a", {1, 2}, {1, 2}, {0.5, -1}, {2, 3}}}, true), {"y_lo[1] = -1"});
  CHECK(dir.listing() == "");
  const std::string unwritable = dir.file("missing/l.png");
  expect_one_line_error([&] { write_line_plot_png(unwritable, {{"a", {1}, {1}, {}, {}}}, {}); }, {unwritable});
}

TEST_CASE("ticks are round numbers inside the range, labelled without noise") {
  Ticks t = linear_ticks(0, 1);
  CHECK(t.step == doctest::Approx(0.2));
  REQUIRE(t.values.size() == 6);
  CHECK(t.values.back() == doctest::Approx(1.0));
  std::vector<std::string> labels;
  for (double v : linear_ticks(-1, 1).values) labels.push_back(tick_label(v, linear_ticks(-1, 1).step));
  CHECK(labels == std::vector<std::string>{"-1.0", "-0.5", "0.0", "0.5", "1.0"});
  CHECK(linear_ticks(3, 1503, 6).step == 200);
  CHECK(tick_label(400, 200) == "400");
  CHECK(tick_label(-1e-17, 0.1) == "0.0");
  CHECK(tick_label(2e6, 5e5) == "2e+06");
  CHECK(log_ticks(1e-3, 20) == std::vector<double>{1e-3, 1e-2, 1e-1, 1, 10});
  CHECK(log_ticks(0.3, 4) == std::vector<double>{0.5, 1, 2});
  CHECK(log_tick_label(0.001) == "0.001");
  CHECK(cell_label(3, 12, true) == "3");
  CHECK(cell_label(0.234, 1, false) == "0.23");
  CHECK(cell_label(-0.001, 1, false) == "0.00");
  CHECK(cell_label(12.34, 50, false) == "12.3");
  CHECK(cell_label(12345.6, 20000, false) == "1.23e+04");
  CHECK(viridis_rgb(0) == Rgb{68, 1, 84});
  CHECK(viridis_rgb(0.5) == Rgb{33, 145, 140});
  CHECK(viridis_rgb(2) == Rgb{253, 231, 37});
  CHECK(viridis_rgb(NAN) == Rgb{68, 1, 84});
}
