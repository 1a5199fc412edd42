// Differentiable softmax, LayerNorm, L2 normalisation and losses.
#include <limits>

#include "autograd/ops.h"

namespace promoe {

namespace {
using Grads = std::vector<Tensor>;

Tensor softmax_impl(const Tensor& a, int64_t dim, bool log) {
  Tensor out = raw::softmax(a, dim, log);
  if (!needs_grad({a})) return out;
  Tensor so = out.detach();
  return record(out, log ? "log_softmax" : "softmax", {a},
                [=](const Tensor& g) { return Grads{raw::softmax_backward(g, so, dim, log)}; });
}
}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, false); }
Tensor log_softmax(const Tensor& a, int64_t dim) { return softmax_impl(a, dim, true); }

Tensor layer_norm(const Tensor& a, double eps, const Tensor& weight, const Tensor& bias) {
  raw::LayerNormResult r = raw::layer_norm(a, eps);
  Tensor out = r.out;
  if (needs_grad({a})) {
    Tensor sa = raw::contiguous(a).detach(), mean = r.mean, rstd = r.rstd;
    out = record(out, "layer_norm", {a},
                 [=](const Tensor& g) { return Grads{raw::layer_norm_backward(g, sa, mean, rstd)}; });
  }
  if (weight.defined()) {
    PROMOE_CHECK(weight.shape() == Shape{a.shape().back()}, "layer_norm: weight ", describe(weight),
                 " does not match the last dim of ", describe(a));
    out = mul(out, weight);
  }
  if (bias.defined()) {
    PROMOE_CHECK(bias.shape() == Shape{a.shape().back()}, "layer_norm: bias ", describe(bias),
                 " does not match the last dim of ", describe(a));
    out = add(out, bias);
  }
  return out;
}

Tensor normalize(const Tensor& a, int64_t dim, double eps) {
  dim = wrap_dim(dim, a.dim(), "normalize");
  Tensor norm = raw::unary(UnaryOp::Sqrt, raw::sum(raw::unary(UnaryOp::Square, a), {dim}, true));
  Tensor denom = raw::unary(UnaryOp::Clamp, norm, eps, std::numeric_limits<double>::infinity());
  Tensor out = raw::div(a, denom);
  if (!needs_grad({a})) return out;
  Tensor so = out.detach();
  return record(out, "normalize", {a}, [=](const Tensor& g) {
    // Where the norm is above eps: (g - y <g, y>) / |a|; where it is clamped: g / eps.
    Tensor active = raw::binary(BinaryOp::Gt, norm, raw::scalar(eps, norm.dtype(), norm.device()));
    Tensor proj = raw::mul(raw::sum(raw::mul(g, so), {dim}, true), active);
    return Grads{raw::div(raw::sub(g, raw::mul(so, proj)), denom)};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  PROMOE_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, C), got ", describe(logits));
  raw::check_index_tensor(targets, "cross_entropy");
  PROMOE_CHECK(targets.shape() == Shape{logits.size(0)}, "cross_entropy: targets ", describe(targets),
               " do not match logits ", describe(logits));
  Tensor picked = gather(log_softmax(logits, 1), 1, raw::unsqueeze(targets, 1));
  return neg(mean(picked));
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  PROMOE_CHECK(pred.shape() == target.shape(), "mse_loss: prediction ", describe(pred), " and target ",
               describe(target), " differ in shape");
  return mean(square(sub(pred, target)));
}

}  // namespace promoe
