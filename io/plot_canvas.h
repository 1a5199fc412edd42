// The drawing surface under io/plot's charts: a white RGB cairo image, text in DejaVu Sans
// (Debian's fonts-dejavu-core; the folder is found at configure time) loaded through FreeType,
// and the finished picture as PNG bytes. Private to io/: only io/plot*.cpp include it.
#pragma once
#include <cairo.h>

#include <string>
#include <vector>

namespace promoe::io::plot {

struct Rgb {
  double r = 0, g = 0, b = 0;
};
struct Font {
  double size = 12;  // pixels
  bool bold = false;
};
// The charts' common look: fonts, inks and the blank border.
inline constexpr Font kTitleFont{16, true}, kLabelFont{13}, kTickFont{12};
inline constexpr Rgb kInk{0.1, 0.1, 0.1}, kFrameInk{0.25, 0.25, 0.25};
inline constexpr int kMargin = 14;

enum class HAlign { Left, Center, Right };
enum class VAlign { Top, Middle, Bottom };  // of the font's ascent-to-descent box

class Canvas {
 public:
  // A width x height picture, white. Throws promoe::Error naming `what` when cairo cannot make it.
  Canvas(int width, int height, const std::string& what);
  ~Canvas();
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;

  int width() const { return width_; }
  int height() const { return height_; }
  // The cairo context, for paths the helpers below do not cover.
  cairo_t* cr() const { return cr_; }

  double text_width(const std::string& s, const Font& f) const;
  double text_height(const Font& f) const;                                    // ascent + descent
  double widest(const std::vector<std::string>& texts, const Font& f) const;  // 0 for none
  // Draws `s` so that its box's (h, v) point lies at (x, y). `vertical` turns it a quarter
  // counter-clockwise (read bottom to top); h and v then refer to the turned text's own axes.
  void text(const std::string& s, double x, double y, const Font& f, Rgb colour, HAlign h, VAlign v,
            bool vertical = false) const;
  void fill_rect(double x, double y, double w, double h, Rgb colour) const;
  // A 1-pixel-sharp outline of the rectangle whose pixels span [x, x + w) x [y, y + h).
  void frame_rect(double x, double y, double w, double h, Rgb colour) const;
  void line(double x0, double y0, double x1, double y1, Rgb colour, double width = 1) const;
  void set_colour(Rgb colour, double alpha = 1) const;

  // The picture as PNG bytes; throws promoe::Error naming `what_` if any drawing call failed.
  std::string png() const;

 private:
  void use(const Font& f) const;
  int width_, height_;
  std::string what_;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

}  // namespace promoe::io::plot
