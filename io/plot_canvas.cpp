// The cairo canvas of io/plot: fonts loaded once per process, text placement, PNG encoding.
#include "io/plot_canvas.h"

#include <cairo-ft.h>
#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/error.h"

#ifndef PROMOE_FONT_DIR
#error "PROMOE_FONT_DIR (the folder of DejaVuSans.ttf) is set by CMakeLists.txt"
#endif

namespace promoe::io::plot {

namespace {

// The two faces, loaded through FreeType directly rather than by fontconfig's family lookup, so
// every machine draws with the same font file. Made once and kept for the life of the process
// (cairo caches glyphs of these faces globally).
struct Fonts {
  cairo_font_face_t* regular = nullptr;
  cairo_font_face_t* bold = nullptr;
};

cairo_font_face_t* load_face(FT_Library library, const std::string& file) {
  const std::string path = std::string(PROMOE_FONT_DIR) + "/" + file;
  FT_Face face = nullptr;
  PROMOE_CHECK(FT_New_Face(library, path.c_str(), 0, &face) == 0, "plot: cannot load the font ", path,
               " (Debian package fonts-dejavu-core)");
  cairo_font_face_t* cairo_face = cairo_ft_font_face_create_for_ft_face(face, 0);
  PROMOE_CHECK(cairo_font_face_status(cairo_face) == CAIRO_STATUS_SUCCESS, "plot: cairo cannot use the font ", path,
               ": ", cairo_status_to_string(cairo_font_face_status(cairo_face)));
  return cairo_face;
}

const Fonts& fonts() {
  static const Fonts* loaded = [] {
    FT_Library library = nullptr;
    PROMOE_CHECK(FT_Init_FreeType(&library) == 0, "plot: FreeType failed to start");
    return new Fonts{load_face(library, "DejaVuSans.ttf"), load_face(library, "DejaVuSans-Bold.ttf")};
  }();
  return *loaded;
}

}  // namespace

Canvas::Canvas(int width, int height, const std::string& what) : width_(width), height_(height), what_(what) {
  PROMOE_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, what, ": a picture of ", width, "x",
               height, " pixels is outside 1..16384 per side");
  fonts();  // loaded before drawing, so a missing font fails here with its own message
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  cr_ = cairo_create(surface_);
  PROMOE_CHECK(cairo_status(cr_) == CAIRO_STATUS_SUCCESS, what, ": cairo: ", cairo_status_to_string(cairo_status(cr_)));
  set_colour({1, 1, 1});
  cairo_paint(cr_);
}

Canvas::~Canvas() {
  cairo_destroy(cr_);
  cairo_surface_destroy(surface_);
}

void Canvas::use(const Font& f) const {
  cairo_set_font_face(cr_, f.bold ? fonts().bold : fonts().regular);
  cairo_set_font_size(cr_, f.size);
}

double Canvas::text_width(const std::string& s, const Font& f) const {
  use(f);
  cairo_text_extents_t e;
  cairo_text_extents(cr_, s.c_str(), &e);
  return e.x_advance;
}

double Canvas::text_height(const Font& f) const {
  use(f);
  cairo_font_extents_t e;
  cairo_font_extents(cr_, &e);
  return e.ascent + e.descent;
}

double Canvas::widest(const std::vector<std::string>& texts, const Font& f) const {
  double w = 0;
  for (const std::string& s : texts) w = std::max(w, text_width(s, f));
  return w;
}

void Canvas::text(const std::string& s, double x, double y, const Font& f, Rgb colour, HAlign h, VAlign v,
                  bool vertical) const {
  use(f);
  cairo_font_extents_t fe;
  cairo_font_extents(cr_, &fe);
  const double w = text_width(s, f);
  const double dx = h == HAlign::Left ? 0 : h == HAlign::Center ? -w / 2 : -w;
  const double box = fe.ascent + fe.descent;
  const double dy = fe.ascent - (v == VAlign::Top ? 0 : v == VAlign::Middle ? box / 2 : box);
  cairo_save(cr_);
  cairo_translate(cr_, x, y);
  if (vertical) cairo_rotate(cr_, -std::numbers::pi / 2);
  set_colour(colour);
  cairo_move_to(cr_, dx, dy);
  cairo_show_text(cr_, s.c_str());
  cairo_restore(cr_);
}

void Canvas::fill_rect(double x, double y, double w, double h, Rgb colour) const {
  set_colour(colour);
  cairo_rectangle(cr_, x, y, w, h);
  cairo_fill(cr_);
}

void Canvas::frame_rect(double x, double y, double w, double h, Rgb colour) const {
  set_colour(colour);
  cairo_set_line_width(cr_, 1);
  cairo_rectangle(cr_, std::floor(x) + 0.5, std::floor(y) + 0.5, std::round(w) - 1, std::round(h) - 1);
  cairo_stroke(cr_);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb colour, double width) const {
  set_colour(colour);
  cairo_set_line_width(cr_, width);
  cairo_move_to(cr_, x0, y0);
  cairo_line_to(cr_, x1, y1);
  cairo_stroke(cr_);
}

void Canvas::set_colour(Rgb colour, double alpha) const {
  cairo_set_source_rgba(cr_, colour.r, colour.g, colour.b, alpha);
}

std::string Canvas::png() const {
  PROMOE_CHECK(cairo_status(cr_) == CAIRO_STATUS_SUCCESS, what_,
               ": drawing failed: ", cairo_status_to_string(cairo_status(cr_)));
  cairo_surface_flush(surface_);
  std::string bytes;
  auto append = [](void* out, const unsigned char* data, unsigned int n) {
    static_cast<std::string*>(out)->append(reinterpret_cast<const char*>(data), n);
    return CAIRO_STATUS_SUCCESS;
  };
  const cairo_status_t status = cairo_surface_write_to_png_stream(surface_, append, &bytes);
  PROMOE_CHECK(status == CAIRO_STATUS_SUCCESS, what_, ": PNG encoding failed: ", cairo_status_to_string(status));
  return bytes;
}

}  // namespace promoe::io::plot
