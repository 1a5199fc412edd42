// Pillow's separable resampling of 8-bit images (its Resample.c algorithm, reimplemented).
#include "io/image_resample.h"

#include <cmath>
#include <vector>

#include "io/checked_size.h"
#include "tensor/error.h"

namespace promoe::io {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's fixed-point weights: 22 fractional bits

double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

double bicubic_filter(double x) {  // Keys' cubic convolution with a = -0.5
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For each output position along one axis: the first input index, the number of inputs, and
// their fixed-point weights (ksize of them per output, the unused ones 0).
struct Coefficients {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
};

Coefficients precompute(int64_t in_size, int64_t out_size, ResampleFilter filter) {
  const double support_base = filter == ResampleFilter::Box ? 0.5 : 2.0;
  double (*f)(double) = filter == ResampleFilter::Box ? box_filter : bicubic_filter;
  const double scale = double(in_size) / double(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;  // downscaling widens the filter (antialias)
  const double support = support_base * filterscale;
  Coefficients c;
  c.ksize = int64_t(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(out_size));
  c.count.resize(size_t(out_size));
  c.weights.assign(size_t(out_size * c.ksize), 0);
  std::vector<double> w(size_t(c.ksize));
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (double(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Pillow rounds by truncating toward zero after adding 0.5, then clamps to the image.
    int64_t xmin = int64_t(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = int64_t(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double sum = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      w[size_t(x)] = f((double(x + xmin) - center + 0.5) * ss);
      sum += w[size_t(x)];
    }
    int32_t* k = &c.weights[size_t(xx * c.ksize)];
    for (int64_t x = 0; x < xmax; ++x) {
      const double v = (sum != 0.0 ? w[size_t(x)] / sum : w[size_t(x)]) * double(1 << kPrecisionBits);
      k[x] = int32_t(v < 0 ? -0.5 + v : 0.5 + v);
    }
    c.first[size_t(xx)] = xmin;
    c.count[size_t(xx)] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}

// One pass along the rows (horizontal) or the columns (vertical) of `in`.
Image resample_pass(const Image& in, int64_t out_size, bool horizontal, ResampleFilter filter) {
  const int64_t C = in.channels;
  const Coefficients k = precompute(horizontal ? in.width : in.height, out_size, filter);
  Image out{horizontal ? out_size : in.width, horizontal ? in.height : out_size, C, {}};
  out.pixels.resize(size_t(out.width * out.height * C));
  // In `in`, step between neighbouring inputs along the axis, in bytes.
  const int64_t step = horizontal ? C : in.width * C;
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x) {
      const int64_t o = horizontal ? x : y;  // the output position along the axis
      const int32_t* w = &k.weights[size_t(o * k.ksize)];
      const int64_t base =
          horizontal ? (y * in.width + k.first[size_t(o)]) * C : (k.first[size_t(o)] * in.width + x) * C;
      for (int64_t c = 0; c < C; ++c) {
        int64_t acc = int64_t(1) << (kPrecisionBits - 1);
        const uint8_t* p = &in.pixels[size_t(base + c)];
        for (int64_t i = 0; i < k.count[size_t(o)]; ++i) acc += int64_t(p[i * step]) * w[i];
        out.pixels[size_t((y * out.width + x) * C + c)] = clip8(acc);
      }
    }
  return out;
}

void check_image(const Image& img, const char* what) {
  PROMOE_CHECK(img.width >= 1 && img.height >= 1 && img.channels >= 1 &&
                   img.pixels.size() == size_t(img.width * img.height * img.channels),
               what, ": image ", img.width, " x ", img.height, " x ", img.channels, " with ", img.pixels.size(),
               " bytes is malformed");
}

}  // namespace

Image resize_image(const Image& img, int64_t width, int64_t height, ResampleFilter filter) {
  check_image(img, "resize_image");
  PROMOE_CHECK(width >= 1 && height >= 1, "resize_image: target size ", width, " x ", height, " must be positive");
  checked_mul(checked_mul(uint64_t(width), uint64_t(height), "resize_image"), uint64_t(img.channels), "resize_image");
  Image out = img;
  if (width != img.width) out = resample_pass(out, width, true, filter);
  if (height != img.height) out = resample_pass(out, height, false, filter);
  return out;
}

Image adm_center_crop(const Image& img, int64_t size) {
  check_image(img, "adm_center_crop");
  PROMOE_CHECK(size >= 1, "adm_center_crop: size ", size, " must be positive");
  Image im = img;
  while (std::min(im.width, im.height) >= 2 * size)
    im = resize_image(im, im.width / 2, im.height / 2, ResampleFilter::Box);
  const double scale = double(size) / double(std::min(im.width, im.height));
  // Python's round(): to nearest, halves to even (the default floating-point rounding mode).
  const double w = std::nearbyint(double(im.width) * scale), h = std::nearbyint(double(im.height) * scale);
  PROMOE_CHECK(w * h <= double(kMaxCropResizePixels), "adm_center_crop: a ", img.width, " x ", img.height,
               " image would be resized to ", int64_t(w), " x ", int64_t(h), " pixels, more than 2^26 (too elongated)");
  im = resize_image(im, int64_t(w), int64_t(h), ResampleFilter::Bicubic);
  PROMOE_CHECK(im.width >= size && im.height >= size, "adm_center_crop: resized to ", im.width, " x ", im.height,
               ", smaller than the ", size, " x ", size, " crop");
  const int64_t x0 = (im.width - size) / 2, y0 = (im.height - size) / 2, C = im.channels;
  if (x0 == 0 && y0 == 0 && im.width == size && im.height == size) return im;
  Image out{size, size, C, std::vector<uint8_t>(size_t(size * size * C))};
  for (int64_t y = 0; y < size; ++y) {
    const uint8_t* src = &im.pixels[size_t(((y0 + y) * im.width + x0) * C)];
    std::copy(src, src + size * C, &out.pixels[size_t(y * size * C)]);
  }
  return out;
}

Image flip_horizontal(const Image& img) {
  check_image(img, "flip_horizontal");
  Image out = img;
  const int64_t W = img.width, C = img.channels;
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < C; ++c)
        out.pixels[size_t((y * W + x) * C + c)] = img.pixels[size_t((y * W + (W - 1 - x)) * C + c)];
  return out;
}

}  // namespace promoe::io
