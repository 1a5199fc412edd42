// Convolution, GroupNorm and upsampling as differentiable ops, and their composed versions.
#include "nn/image_ops.h"

#include "nn/functional.h"
#include "nn/fused_conv.h"
#include "nn/fused_group_norm.h"

namespace promoe::nn {

using Grads = std::vector<Tensor>;

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  Tensor y = fused::conv2d(x, weight, bias, stride, pad);
  if (!needs_grad({x, weight, bias})) return y;
  Tensor sx = x.detach(), sw = weight.detach();
  const bool rx = x.requires_grad(), rw = weight.requires_grad(), rb = bias.defined() && bias.requires_grad();
  return record(y, "conv2d", {x, weight, bias}, [=](const Tensor& g) {
    fused::Conv2dGrads d = fused::conv2d_backward(g, sx, sw, stride, pad, rx, rw, rb);
    return Grads{d.x, d.weight, d.bias};
  });
}

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  fused::GroupNormResult r = fused::group_norm(x, weight, bias, groups, eps);
  if (!needs_grad({x, weight, bias})) return r.out;
  Tensor sx = x.detach(), sw = weight.detach(), mean = r.mean, rstd = r.rstd;
  return record(r.out, "group_norm", {x, weight, bias}, [=](const Tensor& g) {
    fused::GroupNormGrads d = fused::group_norm_backward(g, sx, mean, rstd, sw, groups);
    return Grads{d.x, d.weight, d.bias};
  });
}

Tensor upsample_nearest2x(const Tensor& x) {
  PROMOE_CHECK(x.dim() == 4, "upsample_nearest2x: expected (B, C, H, W), got ", describe(x));
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor blocks = expand(reshape(x, {B, C, H, 1, W, 1}), {B, C, H, 2, W, 2});
  return reshape(contiguous(blocks), {B, C, 2 * H, 2 * W});
}

Tensor image_patches(const Tensor& x, int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  PROMOE_CHECK(x.dim() == 4, "image_patches: expected (H, W, B, C), got ", describe(x));
  PROMOE_CHECK(kh > 0 && kw > 0 && stride > 0 && pad >= 0, "image_patches: bad geometry ", kh, "x", kw,
               " stride=", stride, " pad=", pad);
  const int64_t H = x.size(0), W = x.size(1), B = x.size(2), C = x.size(3);
  PROMOE_CHECK(H + 2 * pad >= kh && W + 2 * pad >= kw, "image_patches: ", describe(x), " is smaller than a ", kh, "x",
               kw, " window");
  const int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
  Tensor pixels = cat({reshape(contiguous(x), {H * W, B * C}), zeros({1, B * C}, x.dtype(), x.device())}, 0);
  Tensor index = raw::to(fused::patch_index(H, W, kh, kw, stride, pad), x.device());
  Tensor taps = reshape(index_select(pixels, 0, index), {Ho, Wo, kh * kw, B, C});
  return reshape(contiguous(permute(taps, {0, 1, 3, 2, 4})), {Ho, Wo, B, kh * kw * C});
}

Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  const int64_t O = weight.size(0), C = weight.size(1), kh = weight.size(2), kw = weight.size(3);
  Tensor patches = image_patches(permute(x, {2, 3, 0, 1}), kh, kw, stride, pad);  // (Ho, Wo, B, kh*kw*C)
  Tensor w = reshape(permute(weight, {0, 2, 3, 1}), {O, kh * kw * C});            // taps in (ky, kx, c) order
  return permute(linear(patches, w, bias), {2, 3, 0, 1});
}

Tensor group_norm_reference(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t B = x.size(0), C = x.size(1);
  Tensor xhat = reshape(layer_norm(reshape(x, {B, groups, -1}), eps), {B, C, -1});
  Tensor y = xhat * reshape(weight, {C, 1}) + reshape(bias, {C, 1});
  return reshape(y, x.shape());
}

}  // namespace promoe::nn
