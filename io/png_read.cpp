// PNG decoding through stb_image (PNG only; its implementation lives here, private to this file).
#include <cstdio>
#include <filesystem>

#include "io/png.h"
#include "tensor/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace promoe::io {

Image read_png(const std::string& path, int64_t channels) {
  PROMOE_CHECK(channels == 1 || channels == 3, "read_png ", path, ": channels must be 1 or 3, got ", channels);
  std::error_code ec;
  PROMOE_CHECK(std::filesystem::is_regular_file(path, ec), "PNG file ", path, ": no such file");
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &n, int(channels));
  PROMOE_CHECK(px, "PNG file ", path, ": cannot decode (", stbi_failure_reason(), ")");
  Image img{w, h, channels, std::vector<uint8_t>(px, px + size_t(w) * size_t(h) * size_t(channels))};
  stbi_image_free(px);
  return img;
}

}  // namespace promoe::io
