// PNG output of sample grids from image tensors, encoded by stb_image_write in memory and written
// with write_file_atomic; decoding (stb_image) serves grids fed back to `promoe eval`. Charts
// (heatmaps, line plots) are io/plot.h's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::io {

// An 8-bit image, rows top to bottom, channels interleaved (1 = grey, 3 = RGB).
struct Image {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// Tiles images (N, C, H, W), C = 1 or 3, values in [-1, 1], into a grid of min(ncols, N) columns
// with `pad` black pixels around and between tiles (torchvision's make_grid layout). Values map
// to bytes by io/pixel_bytes.h: clamp(127.5 * x + 128, 0, 255), truncated, as the official
// sampling code does.
Image image_grid(const Tensor& images, int64_t ncols = 8, int64_t pad = 2);

// PNG bytes of `img`.
std::string encode_png(const Image& img);

void write_png(const std::string& path, const Image& img);
// Decodes a PNG file into `channels` (1: grey, 3: RGB) channels, converting as needed (io/png_read.cpp).
Image read_png(const std::string& path, int64_t channels);
void write_image_grid_png(const std::string& path, const Tensor& images, int64_t ncols = 8, int64_t pad = 2);

}  // namespace promoe::io
