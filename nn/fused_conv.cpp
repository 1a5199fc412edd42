// The convolution fused op: composed reference (im2col and col2im through index_select and
// index_add, products through matmul) and checked entry points.
#include "nn/fused_conv.h"

namespace promoe::nn::fused {

namespace {

// The (B*Ho*Wo, C*kh*kw) patch rows of x (B, C, H, W), taps in the weight's (c, ky, kx) order, and
// the pixel index they were gathered with (on x's device).
struct Patches {
  Tensor rows, index;
};
Patches patch_rows(const Tensor& x, const ConvGeometry& g) {
  const int64_t K = g.kh * g.kw, BC = g.B * g.C;
  Tensor pixels = raw::cat({raw::reshape(raw::contiguous(raw::permute(x, {2, 3, 0, 1})), {g.H * g.W, BC}),
                            raw::zeros({1, BC}, x.dtype(), x.device())},
                           0);  // (H*W + 1, B*C), the last row zeros
  Tensor index = raw::to(patch_index(g.H, g.W, g.kh, g.kw, g.stride, g.pad), x.device());
  Tensor taps = raw::reshape(raw::index_select(pixels, 0, index), {g.Ho, g.Wo, K, g.B, g.C});
  return {raw::reshape(raw::contiguous(raw::permute(taps, {3, 0, 1, 4, 2})), {g.B * g.Ho * g.Wo, g.C * K}), index};
}

Tensor weight_rows(const Tensor& weight, const ConvGeometry& g) {
  return raw::reshape(weight, {g.O, g.C * g.kh * g.kw});
}

}  // namespace

ConvGeometry conv_geometry(const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad, const char* op) {
  PROMOE_CHECK(x.dim() == 4, op, ": input must be (B, C, H, W), got ", describe(x));
  PROMOE_CHECK(weight.dim() == 4 && weight.size(1) == x.size(1), op, ": weight ", describe(weight), " is not (out, ",
               x.size(1), ", kh, kw) for input ", describe(x));
  PROMOE_CHECK(stride >= 1 && pad >= 0, op, ": stride ", stride, " and padding ", pad, " must be >= 1 and >= 0");
  ConvGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3),
                 stride,    pad,       0,         0};
  PROMOE_CHECK(g.kh >= 1 && g.kw >= 1 && g.H + 2 * pad >= g.kh && g.W + 2 * pad >= g.kw, op, ": input ", describe(x),
               " with padding ", pad, " is smaller than the ", g.kh, "x", g.kw, " kernel");
  g.Ho = (g.H + 2 * pad - g.kh) / stride + 1;
  g.Wo = (g.W + 2 * pad - g.kw) / stride + 1;
  return g;
}

Tensor patch_index(int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  const int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
  Tensor index = Tensor::empty({Ho * Wo * kh * kw}, DType::I64);
  int64_t* p = index.data<int64_t>();
  for (int64_t oy = 0; oy < Ho; ++oy)
    for (int64_t ox = 0; ox < Wo; ++ox)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
          *p++ = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? iy * W + ix : H * W;
        }
  return index;
}

void conv2d_reference(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                      int64_t pad) {
  const ConvGeometry g = conv_geometry(x, weight, stride, pad, "conv2d");
  Tensor y = raw::matmul(patch_rows(x, g).rows, raw::transpose(weight_rows(weight, g), 0, 1));  // (B*Ho*Wo, O)
  if (bias.defined()) raw::add_(y, bias);
  raw::copy_(out, raw::permute(raw::reshape(y, {g.B, g.Ho, g.Wo, g.O}), {0, 3, 1, 2}));
}

void conv2d_backward_reference(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                               const Tensor& g_out, const Tensor& x, const Tensor& weight, int64_t stride,
                               int64_t pad) {
  const ConvGeometry g = conv_geometry(x, weight, stride, pad, "conv2d_backward");
  const int64_t K = g.kh * g.kw;
  Tensor g_rows = raw::reshape(raw::contiguous(raw::permute(g_out, {0, 2, 3, 1})), {g.B * g.Ho * g.Wo, g.O});
  if (grad_bias.defined()) raw::copy_(grad_bias, raw::sum(g_out, {0, 2, 3}));
  if (!grad_x.defined() && !grad_weight.defined()) return;
  Patches p = patch_rows(x, g);
  if (grad_weight.defined())
    raw::copy_(grad_weight, raw::reshape(raw::matmul(raw::transpose(g_rows, 0, 1), p.rows), weight.shape()));
  if (!grad_x.defined()) return;
  Tensor g_patches = raw::reshape(raw::matmul(g_rows, weight_rows(weight, g)), {g.B, g.Ho, g.Wo, g.C, K});
  Tensor g_taps = raw::reshape(raw::contiguous(raw::permute(g_patches, {1, 2, 4, 0, 3})), {g.Ho * g.Wo * K, g.B * g.C});
  Tensor g_pixels = raw::zeros({g.H * g.W + 1, g.B * g.C}, x.dtype(), x.device());
  raw::index_add_(g_pixels, 0, p.index, g_taps);
  Tensor g_image = raw::reshape(raw::narrow(g_pixels, 0, 0, g.H * g.W), {g.H, g.W, g.B, g.C});
  raw::copy_(grad_x, raw::permute(g_image, {2, 3, 0, 1}));
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  raw::check_floating(x, "conv2d");
  raw::check_same_device(x, weight, "conv2d");
  raw::check_same_dtype(x, weight, "conv2d");
  const ConvGeometry g = conv_geometry(x, weight, stride, pad, "conv2d");
  if (bias.defined()) {
    raw::check_same_device(x, bias, "conv2d");
    raw::check_same_dtype(x, bias, "conv2d");
    PROMOE_CHECK(bias.shape() == Shape{g.O}, "conv2d: bias ", describe(bias), " does not match weight ",
                 describe(weight));
  }
  Tensor out = Tensor::empty({g.B, g.O, g.Ho, g.Wo}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (x.numel() == 0 || weight.numel() == 0) {  // no taps: the bias alone
    raw::fill_(out, 0.0);
    if (bias.defined()) raw::add_(out, raw::reshape(bias, {g.O, 1, 1}));
    return out;
  }
  conv2d_op(x.device(), out, raw::contiguous(x), raw::contiguous(weight),
            bias.defined() ? raw::contiguous(bias) : Tensor(), stride, pad);
  return out;
}

Conv2dGrads conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad,
                            bool want_x, bool want_weight, bool want_bias) {
  const ConvGeometry g = conv_geometry(x, weight, stride, pad, "conv2d_backward");
  PROMOE_CHECK(grad_out.shape() == Shape({g.B, g.O, g.Ho, g.Wo}), "conv2d_backward: gradient ", describe(grad_out),
               " does not match the output of input ", describe(x), " and weight ", describe(weight));
  auto like = [&](bool want, const Shape& s) { return want ? Tensor::empty(s, x.dtype(), x.device()) : Tensor(); };
  Conv2dGrads r{like(want_x, x.shape()), like(want_weight, weight.shape()), like(want_bias, {g.O})};
  if (grad_out.numel() == 0 || x.numel() == 0 || weight.numel() == 0) {
    for (Tensor* t : {&r.x, &r.weight, &r.bias})
      if (t->defined()) raw::fill_(*t, 0.0);
    if (r.bias.defined() && grad_out.numel()) raw::copy_(r.bias, raw::sum(grad_out, {0, 2, 3}));
    return r;
  }
  conv2d_backward_op(x.device(), r.x, r.weight, r.bias, raw::contiguous(grad_out), raw::contiguous(x),
                     raw::contiguous(weight), stride, pad);
  return r;
}

}  // namespace promoe::nn::fused
