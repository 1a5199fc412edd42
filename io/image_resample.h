// Resampling 8-bit images exactly as Pillow's Image.resize does (BOX and BICUBIC), and the ADM
// centre crop built on it (guided-diffusion's center_crop_arr, which the official ProMoE
// preprocessing and DiT use): the same pixels, byte for byte, as Pillow computes.
//
// Pillow resizes in two separable passes, horizontal then vertical, each skipped when its axis
// keeps its size. For every output pixel it takes the input pixels under the filter's support
// (scaled by the downscaling factor, so downscaling antialiases), weighs them by the filter,
// normalises the weights to sum 1 in double, rounds them to fixed point with 22 fractional bits,
// and rounds and clips the weighted sum to a byte at the end of each pass.
#pragma once
#include <cstdint>

#include "io/png.h"

namespace promoe::io {

enum class ResampleFilter { Box, Bicubic };

// `img` (any number of channels) resized to width x height (each at least 1).
Image resize_image(const Image& img, int64_t width, int64_t height, ResampleFilter filter);

// center_crop_arr(img, size): while the short side is at least 2 * size, halve both sides
// (floor) with BOX; then resize with BICUBIC so the short side is `size` (the long side
// round(side * size / short), rounding half to even as Python does); then crop the centre
// size x size square (offsets (side - size) // 2). An image already size x size is returned as is.
// An image so elongated that the resize would exceed kMaxCropResizePixels is refused.
Image adm_center_crop(const Image& img, int64_t size);
inline constexpr int64_t kMaxCropResizePixels = int64_t(1) << 26;  // e.g. 256 x 262144

// The image mirrored left to right.
Image flip_horizontal(const Image& img);

}  // namespace promoe::io
