// The adaLN fused ops: composed references (primitives through raw ops) and checked entry points.
#include "nn/fused_adaln.h"

namespace promoe::nn::fused {

namespace {
Tensor per_image(const Tensor& v) { return raw::unsqueeze(v, 1); }  // (B, D) -> (B, 1, D)

// x (B, N, D) and per-image vectors (B, D) of x's dtype and device.
void check_adaln(const char* op, const Tensor& x, std::initializer_list<Tensor> per_image) {
  raw::check_floating(x, op);
  PROMOE_CHECK(x.dim() == 3, op, ": x must be (B, N, D), got ", describe(x));
  for (const Tensor& v : per_image) {
    raw::check_same_device(x, v, op);
    raw::check_same_dtype(x, v, op);
    PROMOE_CHECK(v.shape() == Shape({x.size(0), x.size(2)}), op, ": ", describe(v), " is not (B, D) for x ",
                 describe(x));
  }
}
}  // namespace

void layer_norm_modulate_reference(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                   const Tensor& shift, const Tensor& scale, double eps) {
  backend_for(x.device()).layer_norm(out, mean, rstd, x, eps);
  raw::copy_(out, raw::add(raw::mul(out, per_image(raw::add_scalar(scale, 1.0))), per_image(shift)));
}

void layer_norm_modulate_backward_reference(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                            const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                            const Tensor& scale) {
  Tensor xhat = raw::mul(raw::sub(x, raw::unsqueeze(mean, -1)), raw::unsqueeze(rstd, -1));
  raw::copy_(grad_shift, raw::sum(g, {1}));
  raw::copy_(grad_scale, raw::sum(raw::mul(g, xhat), {1}));
  backend_for(x.device())
      .layer_norm_backward(grad_x, raw::mul(g, per_image(raw::add_scalar(scale, 1.0))), x, mean, rstd);
}

void gated_add_reference(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y) {
  raw::copy_(out, raw::add(x, raw::mul(per_image(gate), y)));
}

void gated_add_backward_reference(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                                  const Tensor& gate) {
  raw::copy_(grad_y, raw::mul(g, per_image(gate)));
  raw::copy_(grad_gate, raw::sum(raw::mul(g, y), {1}));
}

LayerNormModulateResult layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps) {
  check_adaln("layer_norm_modulate", x, {shift, scale});
  const Shape rows{x.size(0), x.size(1)};
  LayerNormModulateResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(rows, x.dtype(), x.device()),
                            Tensor::empty(rows, x.dtype(), x.device())};
  if (x.numel())
    layer_norm_modulate_op(x.device(), r.out, r.mean, r.rstd, raw::contiguous(x), raw::contiguous(shift),
                           raw::contiguous(scale), eps);
  return r;
}

LayerNormModulateGrads layer_norm_modulate_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean,
                                                    const Tensor& rstd, const Tensor& scale) {
  check_adaln("layer_norm_modulate_backward", x, {scale});
  PROMOE_CHECK(grad_out.shape() == x.shape(), "layer_norm_modulate_backward: gradient ", describe(grad_out),
               " does not match x ", describe(x));
  const Shape vec{x.size(0), x.size(2)};
  LayerNormModulateGrads g{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(vec, x.dtype(), x.device()),
                           Tensor::empty(vec, x.dtype(), x.device())};
  if (x.numel())
    layer_norm_modulate_backward_op(x.device(), g.x, g.shift, g.scale, raw::contiguous(grad_out), raw::contiguous(x),
                                    raw::contiguous(mean), raw::contiguous(rstd), raw::contiguous(scale));
  return g;
}

Tensor gated_add(const Tensor& x, const Tensor& gate, const Tensor& y) {
  check_adaln("gated_add", x, {gate});
  raw::check_same_device(x, y, "gated_add");
  raw::check_same_dtype(x, y, "gated_add");
  PROMOE_CHECK(y.shape() == x.shape(), "gated_add: ", describe(y), " does not match x ", describe(x));
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel()) gated_add_op(x.device(), out, raw::contiguous(x), raw::contiguous(gate), raw::contiguous(y));
  return out;
}

GatedAddGrads gated_add_backward(const Tensor& grad_out, const Tensor& y, const Tensor& gate) {
  check_adaln("gated_add_backward", y, {gate});
  PROMOE_CHECK(grad_out.shape() == y.shape(), "gated_add_backward: gradient ", describe(grad_out), " does not match ",
               describe(y));
  GatedAddGrads g{Tensor::empty(y.shape(), y.dtype(), y.device()), Tensor::empty(gate.shape(), y.dtype(), y.device())};
  if (y.numel())
    gated_add_backward_op(y.device(), g.y, g.gate, raw::contiguous(grad_out), raw::contiguous(y),
                          raw::contiguous(gate));
  return g;
}

}  // namespace promoe::nn::fused
