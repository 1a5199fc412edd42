// Image grids and PNG encoding through stb_image_write (its implementation lives here).
#include "io/png.h"

#include <algorithm>

#include "io/atomic_file.h"
#include "io/pixel_bytes.h"
#include "tensor/ops.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC  // private to this file, so another copy elsewhere cannot clash
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace promoe::io {

namespace {

// Host f32 copy of any tensor, in row-major order.
std::vector<float> host_values(const Tensor& t) { return t.to_vector<float>(); }

void check_size(int64_t w, int64_t h, const char* op) {
  PROMOE_CHECK(w > 0 && h > 0 && w <= 65535 && h <= 65535, op, ": image size ", w, "x", h,
               " is outside 1..65535 pixels per side");
}

}  // namespace

Image image_grid(const Tensor& images, int64_t ncols, int64_t pad) {
  PROMOE_CHECK(images.defined() && images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3) &&
                   images.size(0) > 0 && is_floating(images.dtype()),
               "image_grid: expected floating images (N, C, H, W) with C = 1 or 3 and N > 0, got ", describe(images));
  PROMOE_CHECK(ncols > 0 && pad >= 0, "image_grid: need ncols > 0 and pad >= 0, got ", ncols, " and ", pad);
  const int64_t n = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t cols = std::min(ncols, n), rows = (n + cols - 1) / cols;
  Image img{cols * (W + pad) + pad, rows * (H + pad) + pad, C, {}};
  check_size(img.width, img.height, "image_grid");
  img.pixels.assign(size_t(img.width * img.height * C), 0);
  std::vector<float> v = host_values(images);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = pad + (i / cols) * (H + pad), x0 = pad + (i % cols) * (W + pad);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          img.pixels[size_t(((y0 + y) * img.width + x0 + x) * C + c)] =
              pixel_byte(v[size_t(((i * C + c) * H + y) * W + x)]);
  }
  return img;
}

std::string encode_png(const Image& img) {
  PROMOE_CHECK(
      img.channels >= 1 && img.channels <= 4 && img.pixels.size() == size_t(img.width * img.height * img.channels),
      "encode_png: image of ", img.width, "x", img.height, "x", img.channels, " holds ", img.pixels.size(), " bytes");
  check_size(img.width, img.height, "encode_png");
  std::string out;
  auto append = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size));
  };
  int ok = stbi_write_png_to_func(append, &out, int(img.width), int(img.height), int(img.channels), img.pixels.data(),
                                  int(img.width * img.channels));
  PROMOE_CHECK(ok && !out.empty(), "encode_png: stb_image_write failed on a ", img.width, "x", img.height, " image");
  return out;
}

void write_png(const std::string& path, const Image& img) { write_file_atomic(path, encode_png(img)); }

void write_image_grid_png(const std::string& path, const Tensor& images, int64_t ncols, int64_t pad) {
  write_png(path, image_grid(images, ncols, pad));
}

}  // namespace promoe::io
