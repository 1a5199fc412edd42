// Image values to 8-bit pixels, the one quantisation every image writer uses (PNG grids, the .npz
// evaluation sets of `promoe sample`, the images `promoe ablate` scores): a value x in [-1, 1]
// becomes clamp(127.5 x + 128, 0, 255) computed in f32 and truncated toward zero, as the official
// sampling code quantises; out-of-range values and infinities clamp, NaN becomes 0.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::io {

uint8_t pixel_byte(float x);

// The bytes of floating images (N, C, H, W) on any device, in (N, H, W, C) order.
std::vector<uint8_t> nhwc_pixel_bytes(const Tensor& images);

}  // namespace promoe::io
