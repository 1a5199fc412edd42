// The GroupNorm fused op: composed reference (the layer_norm primitive on group rows, broadcast
// elementwise affine) and checked entry points.
#include "nn/fused_group_norm.h"

namespace promoe::nn::fused {

namespace {
// (B, C, S) as its (B, G, C/G * S) group rows, and a per-channel (C) vector broadcast over (B, C, S).
Tensor group_rows(const Tensor& t, int64_t groups) { return raw::reshape(t, {t.size(0), groups, -1}); }
Tensor per_channel(const Tensor& v) { return raw::reshape(v, {v.size(0), 1}); }

void check_group_norm(const char* op, const Tensor& x, const Tensor& weight, int64_t groups) {
  raw::check_floating(x, op);
  PROMOE_CHECK(x.dim() >= 2, op, ": x must be (B, C, ...), got ", describe(x));
  PROMOE_CHECK(groups >= 1 && x.size(1) % groups == 0, op, ": ", x.size(1), " channels do not split into ", groups,
               " groups");
  raw::check_defined(weight, op);
  raw::check_same_device(x, weight, op);
  raw::check_same_dtype(x, weight, op);
  PROMOE_CHECK(weight.shape() == Shape{x.size(1)}, op, ": weight ", describe(weight), " does not match the ", x.size(1),
               " channels of ", describe(x));
}

// x (B, C, ...) as contiguous (B, C, S).
Tensor channels(const Tensor& x) { return raw::reshape(raw::contiguous(x), {x.size(0), x.size(1), -1}); }
}  // namespace

void group_norm_reference(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                          const Tensor& weight, const Tensor& bias, int64_t groups, double eps) {
  Tensor rows = Tensor::empty(group_rows(x, groups).shape(), x.dtype(), x.device());
  backend_for(x.device()).layer_norm(rows, mean, rstd, group_rows(x, groups), eps);
  Tensor xhat = raw::reshape(rows, x.shape());
  raw::copy_(out, raw::add(raw::mul(xhat, per_channel(weight)), per_channel(bias)));
}

void group_norm_backward_reference(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                                   const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight, int64_t groups) {
  Tensor xr = group_rows(x, groups);
  Tensor xhat = raw::reshape(raw::mul(raw::sub(xr, raw::unsqueeze(mean, -1)), raw::unsqueeze(rstd, -1)), x.shape());
  raw::copy_(grad_bias, raw::sum(g, {0, 2}));
  raw::copy_(grad_weight, raw::sum(raw::mul(g, xhat), {0, 2}));
  Tensor h = group_rows(raw::mul(g, per_channel(weight)), groups);  // the gradient reaching xhat
  backend_for(x.device()).layer_norm_backward(group_rows(grad_x, groups), raw::contiguous(h), xr, mean, rstd);
}

GroupNormResult group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps) {
  check_group_norm("group_norm", x, weight, groups);
  raw::check_defined(bias, "group_norm");
  raw::check_same_device(x, bias, "group_norm");
  raw::check_same_dtype(x, bias, "group_norm");
  PROMOE_CHECK(bias.shape() == weight.shape(), "group_norm: bias ", describe(bias), " does not match weight ",
               describe(weight));
  const Shape stats{x.size(0), groups};
  GroupNormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(stats, x.dtype(), x.device()),
                    Tensor::empty(stats, x.dtype(), x.device())};
  if (x.numel() == 0) {  // no values: statistics of nothing
    raw::fill_(r.mean, 0.0);
    raw::fill_(r.rstd, 0.0);
    return r;
  }
  Tensor xc = channels(x);
  group_norm_op(x.device(), raw::reshape(r.out, xc.shape()), r.mean, r.rstd, xc, raw::contiguous(weight),
                raw::contiguous(bias), groups, eps);
  return r;
}

GroupNormGrads group_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight, int64_t groups) {
  check_group_norm("group_norm_backward", x, weight, groups);
  PROMOE_CHECK(grad_out.shape() == x.shape(), "group_norm_backward: gradient ", describe(grad_out),
               " does not match x ", describe(x));
  PROMOE_CHECK(mean.shape() == Shape({x.size(0), groups}) && rstd.shape() == mean.shape(),
               "group_norm_backward: statistics ", describe(mean), " are not (B, groups) for x ", describe(x));
  GroupNormGrads r{Tensor::empty(x.shape(), x.dtype(), x.device()),
                   Tensor::empty(weight.shape(), x.dtype(), x.device()),
                   Tensor::empty(weight.shape(), x.dtype(), x.device())};
  if (x.numel() == 0) {
    raw::fill_(r.weight, 0.0);
    raw::fill_(r.bias, 0.0);
    return r;
  }
  Tensor xc = channels(x);
  group_norm_backward_op(x.device(), raw::reshape(r.x, xc.shape()), r.weight, r.bias, channels(grad_out), xc,
                         raw::contiguous(mean), raw::contiguous(rstd), raw::contiguous(weight), groups);
  return r;
}

}  // namespace promoe::nn::fused
