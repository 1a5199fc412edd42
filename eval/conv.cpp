// Patch gathering for convolution, and max pooling.
#include "eval/conv.h"

#include "autograd/ops.h"
#include "nn/functional.h"

namespace promoe::eval {

namespace {

// Pixel indices into the H*W + 1 pixel rows (the last one zeros), one per (oy, ox, ky, kx).
Tensor patch_index(int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad, int64_t Ho, int64_t Wo) {
  Tensor index = Tensor::empty({Ho * Wo * k * k}, DType::I64);
  int64_t* p = index.data<int64_t>();
  for (int64_t oy = 0; oy < Ho; ++oy)
    for (int64_t ox = 0; ox < Wo; ++ox)
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx) {
          const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
          *p++ = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? iy * W + ix : H * W;
        }
  return index;
}

}  // namespace

Tensor image_patches(const Tensor& x, int64_t k, int64_t stride, int64_t pad) {
  PROMOE_CHECK(x.dim() == 4, "image_patches: expected (H, W, B, C), got ", describe(x));
  PROMOE_CHECK(k > 0 && stride > 0 && pad >= 0 && pad < k, "image_patches: bad geometry k=", k, " stride=", stride,
               " pad=", pad);
  const int64_t H = x.size(0), W = x.size(1), B = x.size(2), C = x.size(3);
  PROMOE_CHECK(H + 2 * pad >= k && W + 2 * pad >= k, "image_patches: ", describe(x), " is smaller than a ", k, "x", k,
               " window");
  const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  Tensor pixels = cat({reshape(contiguous(x), {H * W, B * C}), zeros({1, B * C}, x.dtype(), x.device())}, 0);
  Tensor index = raw::to(patch_index(H, W, k, stride, pad, Ho, Wo), x.device());
  Tensor taps = reshape(index_select(pixels, 0, index), {Ho, Wo, k * k, B, C});
  return reshape(contiguous(permute(taps, {0, 1, 3, 2, 4})), {Ho, Wo, B, k * k * C});
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  PROMOE_CHECK(weight.dim() == 4 && weight.size(1) == weight.size(2) && x.dim() == 4 && weight.size(3) == x.size(3),
               "conv2d: weight ", describe(weight), " is not (out, k, k, C) for input ", describe(x));
  const int64_t k = weight.size(1);
  return nn::linear(image_patches(x, k, stride, pad), reshape(weight, {weight.size(0), k * k * x.size(3)}), bias);
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
