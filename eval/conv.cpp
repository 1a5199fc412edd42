// Pixel-major convolution and max pooling.
#include "eval/conv.h"

#include "autograd/ops.h"
#include "nn/functional.h"
#include "nn/image_ops.h"

namespace promoe::eval {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  PROMOE_CHECK(weight.dim() == 4 && weight.size(1) == weight.size(2) && x.dim() == 4 && weight.size(3) == x.size(3),
               "conv2d: weight ", describe(weight), " is not (out, k, k, C) for input ", describe(x));
  const int64_t k = weight.size(1);
  return nn::linear(nn::image_patches(x, k, k, stride, pad), reshape(weight, {weight.size(0), k * k * x.size(3)}),
                    bias);
}

Tensor max_pool2d(const Tensor& x, int64_t k) {
  PROMOE_CHECK(x.dim() == 4 && k > 0 && x.size(0) % k == 0 && x.size(1) % k == 0, "max_pool2d: ", describe(x),
               " does not tile into ", k, "x", k, " windows");
  Tensor w = reshape(contiguous(x), {x.size(0) / k, k, x.size(1) / k, k, x.size(2), x.size(3)});
  Tensor m;
  for (int64_t ky = 0; ky < k; ++ky)
    for (int64_t kx = 0; kx < k; ++kx) {
      Tensor tap = select(select(w, 3, kx), 1, ky);  // (H/k, W/k, B, C)
      m = m.defined() ? maximum(m, tap) : tap;
    }
  return m;
}

}  // namespace promoe::eval
