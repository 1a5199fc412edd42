// Image values to 8-bit pixels (see pixel_bytes.h).
#include "io/pixel_bytes.h"

#include <algorithm>

#include "tensor/ops.h"

namespace promoe::io {

uint8_t pixel_byte(float x) {
  if (!(x == x)) return 0;  // NaN
  return uint8_t(std::clamp(127.5f * x + 128.0f, 0.0f, 255.0f));
}

std::vector<uint8_t> nhwc_pixel_bytes(const Tensor& images) {
  PROMOE_CHECK(images.defined() && images.dim() == 4 && is_floating(images.dtype()),
               "nhwc_pixel_bytes: expected floating images (N, C, H, W), got ", describe(images));
  const Tensor nhwc = raw::contiguous(raw::permute(raw::to(images, DType::F32, Device::cpu()), {0, 2, 3, 1}));
  const std::vector<float> v = nhwc.to_vector<float>();
  std::vector<uint8_t> b(v.size());
  std::transform(v.begin(), v.end(), b.begin(), pixel_byte);
  return b;
}

}  // namespace promoe::io
