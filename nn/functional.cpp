// Fused linear and attention ops with hand-written backward passes.
#include "nn/functional.h"

#include <cmath>

#include "nn/fused_adaln.h"
#include "nn/fused_attention.h"
#include "nn/fused_bias_gelu.h"
#include "nn/transposed_weights.h"

namespace promoe::nn {

using Grads = std::vector<Tensor>;

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  PROMOE_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input ", describe(x),
               " does not match weight ", describe(weight));
  PROMOE_CHECK(!bias.defined() || bias.shape() == Shape{weight.size(0)}, "linear: bias ", describe(bias),
               " does not match weight ", describe(weight));
  const int64_t in = weight.size(1), out_f = weight.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = out_f;
  Tensor x2 = raw::reshape(x, {-1, in});  // (rows, in)
  Tensor y = raw::matmul(x2, weight_transposed_for(weight, x2.size(0)));
  if (bias.defined()) raw::add_(y, bias);
  y = raw::reshape(y, out_shape);
  if (!needs_grad({x, weight, bias})) return y;
  Tensor sx = x2.detach(), sw = weight.detach();
  Shape x_shape = x.shape();
  bool rx = x.requires_grad(), rw = weight.requires_grad(), rb = bias.defined() && bias.requires_grad();
  return record(y, "linear", {x, weight, bias}, [=](const Tensor& g) {
    Tensor g2 = raw::reshape(g, {-1, out_f});  // (rows, out)
    Grads grads(3);
    if (rx) grads[0] = raw::reshape(raw::matmul(g2, sw), x_shape);
    if (rw) grads[1] = raw::matmul(raw::transpose(g2, 0, 1), sx);
    if (rb) grads[2] = raw::sum(g2, {0});
    return grads;
  });
}

Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  PROMOE_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), "linear_gelu: input ", describe(x),
               " does not match weight ", describe(weight));
  PROMOE_CHECK(bias.defined() && bias.shape() == Shape{weight.size(0)}, "linear_gelu: bias ",
               bias.defined() ? describe(bias) : "undefined", " does not match weight ", describe(weight));
  const int64_t in = weight.size(1), out_f = weight.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = out_f;
  Tensor x2 = raw::reshape(x, {-1, in});                                    // (rows, in)
  Tensor pre = raw::matmul(x2, weight_transposed_for(weight, x2.size(0)));  // (rows, out), bias added below
  if (!needs_grad({x, weight, bias})) return raw::reshape(fused::bias_gelu_inplace_(pre, bias), out_shape);
  Tensor h = raw::reshape(fused::bias_gelu_(pre, bias), out_shape);
  Tensor sx = x2.detach(), sw = weight.detach();
  Shape x_shape = x.shape();
  bool rx = x.requires_grad(), rw = weight.requires_grad();
  return record(h, "linear_gelu", {x, weight, bias}, [=](const Tensor& g) {
    fused::BiasGeluGrads d = fused::bias_gelu_backward(raw::reshape(g, {-1, out_f}), pre);
    Grads grads{Tensor(), Tensor(), d.bias};
    if (rx) grads[0] = raw::reshape(raw::matmul(d.pre, sw), x_shape);
    if (rw) grads[1] = raw::matmul(raw::transpose(d.pre, 0, 1), sx);
    return grads;
  });
}

Tensor modulate(const Tensor& h, const Tensor& shift, const Tensor& scale) {
  return h * (unsqueeze(scale, 1) + 1.0) + unsqueeze(shift, 1);
}

Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps) {
  fused::LayerNormModulateResult r = fused::layer_norm_modulate(x, shift, scale, eps);
  if (!needs_grad({x, shift, scale})) return r.out;
  Tensor sx = x.detach(), sscale = scale.detach(), mean = r.mean, rstd = r.rstd;
  return record(r.out, "layer_norm_modulate", {x, shift, scale}, [=](const Tensor& g) {
    fused::LayerNormModulateGrads d = fused::layer_norm_modulate_backward(g, sx, mean, rstd, sscale);
    return Grads{d.x, d.shift, d.scale};
  });
}

Tensor gated_residual(const Tensor& x, const Tensor& gate, const Tensor& y) {
  Tensor out = fused::gated_add(x, gate, y);
  if (!needs_grad({x, gate, y})) return out;
  Tensor sgate = gate.detach(), sy = y.detach();
  return record(out, "gated_residual", {x, gate, y}, [=](const Tensor& g) {
    fused::GatedAddGrads d = fused::gated_add_backward(g, sy, sgate);
    return Grads{g, d.gate, d.y};
  });
}

namespace {
// A (B, N, 3D) qkv tensor (or its gradient) as three (B, H, N, hd) views.
std::array<Tensor, 3> split_heads(const Tensor& qkv, int64_t H) {
  const int64_t B = qkv.size(0), N = qkv.size(1), hd = qkv.size(2) / (3 * H);
  Tensor t = raw::permute(raw::reshape(qkv, {B, N, 3, H, hd}), {2, 0, 3, 1, 4});  // (3, B, H, N, hd)
  return {raw::select(t, 0, 0), raw::select(t, 0, 1), raw::select(t, 0, 2)};
}
// A (B, N, D) tensor as its (B, H, N, hd) head view.
Tensor heads_of(const Tensor& x, int64_t H) {
  const int64_t B = x.size(0), N = x.size(1), hd = x.size(2) / H;
  return raw::permute(raw::reshape(x, {B, N, H, hd}), {0, 2, 1, 3});
}
}  // namespace

// The heads are read from and merged into the token-major tensors in place (no copies): o is written
// straight into the (B, N, D) output and the q, k, v gradients into one (B, N, 3D) buffer. Backward
// keeps only the rows' log-sum-exp (B, H, N) and rebuilds the probabilities from q and k.
Tensor attention(const Tensor& qkv, int64_t num_heads) {
  PROMOE_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * num_heads) == 0, "attention: qkv ", describe(qkv),
               " is not (B, N, 3 * D) with D divisible by ", num_heads, " heads");
  const int64_t B = qkv.size(0), N = qkv.size(1), D = qkv.size(2) / 3, hd = D / num_heads;
  const double scale = 1.0 / std::sqrt(double(hd));
  auto [q, k, v] = split_heads(qkv, num_heads);
  Tensor out = Tensor::empty({B, N, D}, qkv.dtype(), qkv.device());
  Tensor lse = fused::attention_into(heads_of(out, num_heads), q, k, v, scale);  // (B, H, N)
  if (!needs_grad({qkv})) return out;
  Tensor sq = q.detach(), sk = k.detach(), sv = v.detach(), so = heads_of(out.detach(), num_heads);
  return record(out, "attention", {qkv}, [=](const Tensor& g) {
    Tensor gqkv = Tensor::empty({B, N, 3 * D}, g.dtype(), g.device());
    auto [gq, gk, gv] = split_heads(gqkv, num_heads);
    fused::attention_backward_into(gq, gk, gv, heads_of(raw::contiguous(g), num_heads), sq, sk, sv, so, lse, scale);
    return Grads{gqkv};
  });
}

Tensor attention_reference(const Tensor& qkv, int64_t num_heads) {
  const int64_t B = qkv.size(0), N = qkv.size(1), D = qkv.size(2) / 3, hd = D / num_heads;
  Tensor t = permute(reshape(qkv, {B, N, 3, num_heads, hd}), {2, 0, 3, 1, 4});
  Tensor q = select(t, 0, 0), k = select(t, 0, 1), v = select(t, 0, 2);
  Tensor p = softmax(matmul(q, transpose(k, -1, -2)) * (1.0 / std::sqrt(double(hd))), -1);
  return reshape(permute(matmul(p, v), {0, 2, 1, 3}), {B, N, D});
}

}  // namespace promoe::nn
