// PNG decoding through stb_image (PNG only; its implementation lives here, private to this file).
// The file is read whole and its claims are checked before stb_image allocates for them: every
// chunk must fit in the bytes that follow it (stb_image grows its buffer to a chunk's claimed
// length before reading it), and the image's pixel count must fit what the data can hold.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

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

namespace {

constexpr uint64_t kMaxPngPixels = uint64_t(1) << 28;  // a 16k x 16k grid

uint32_t big_endian_u32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Walks the chunks after the 8-byte signature (length, type, data, CRC each) up to IEND.
void check_chunks(const std::vector<unsigned char>& bytes, const std::string& path) {
  static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  PROMOE_CHECK(bytes.size() >= 8 && std::equal(signature, signature + 8, bytes.begin()), "PNG file ", path,
               ": not a PNG (no PNG signature)");
  uint64_t at = 8;
  while (true) {
    PROMOE_CHECK(bytes.size() - at >= 12, "PNG file ", path, ": truncated at byte ", at, " (no IEND chunk)");
    const uint64_t length = big_endian_u32(&bytes[at]);
    PROMOE_CHECK(length <= bytes.size() - at - 12, "PNG file ", path, ": a chunk at byte ", at, " claims ", length,
                 " bytes, more than the ", bytes.size() - at - 12, " that follow it");
    const bool end = std::equal(&bytes[at + 4], &bytes[at + 8], "IEND");
    at += 12 + length;
    if (end) return;
  }
}

}  // namespace

Image read_png(const std::string& path, int64_t channels) {
  PROMOE_CHECK(channels == 1 || channels == 3, "read_png ", path, ": channels must be 1 or 3, got ", channels);
  std::error_code ec;
  PROMOE_CHECK(std::filesystem::is_regular_file(path, ec), "PNG file ", path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  PROMOE_CHECK(in, "PNG file ", path, ": cannot open");
  const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  PROMOE_CHECK(bytes.size() < (uint64_t(1) << 31), "PNG file ", path, ": larger than 2 GiB");
  check_chunks(bytes, path);
  int w = 0, h = 0, n = 0;
  PROMOE_CHECK(stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &n), "PNG file ", path,
               ": cannot decode (", stbi_failure_reason(), ")");
  // Deflate expands at most 1032:1 and a pixel takes at least one bit, so a file of S bytes holds
  // at most about 8 * 1032 * S pixels.
  const uint64_t pixels = uint64_t(w) * uint64_t(h);
  PROMOE_CHECK(pixels <= kMaxPngPixels && pixels <= 8 * 1032 * uint64_t(bytes.size()), "PNG file ", path,
               ": its header claims ", w, " x ", h, " pixels, more than its ", bytes.size(),
               " bytes can hold (or beyond ", kMaxPngPixels, ")");
  unsigned char* px = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &n, int(channels));
  PROMOE_CHECK(px, "PNG file ", path, ": cannot decode (", stbi_failure_reason(), ")");
  Image img{w, h, channels, std::vector<uint8_t>(px, px + size_t(w) * size_t(h) * size_t(channels))};
  stbi_image_free(px);
  return img;
}

}  // namespace promoe::io
