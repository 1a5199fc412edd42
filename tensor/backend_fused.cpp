// Default fused kernels (attention, adaLN, bias + GELU and its grouped form, cosine scores, sum of
// squares), composed from the backend's primitives through raw ops: correct on any backend, and the
// reference the fused CPU kernels (cpu/adaln.cpp, cpu/bias_gelu.cpp, cpu/grouped.cpp,
// cpu/cosine.cpp) are tested against.
#include <limits>

#include "tensor/ops.h"

namespace promoe {

namespace {
Tensor per_image(const Tensor& v) { return raw::unsqueeze(v, 1); }  // (B, D) -> (B, 1, D)
}  // namespace

void Backend::layer_norm_modulate(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                  const Tensor& shift, const Tensor& scale, double eps) {
  layer_norm(out, mean, rstd, x, eps);
  raw::copy_(out, raw::add(raw::mul(out, per_image(raw::add_scalar(scale, 1.0))), per_image(shift)));
}

void Backend::layer_norm_modulate_backward(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                           const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                           const Tensor& scale) {
  Tensor xhat = raw::mul(raw::sub(x, raw::unsqueeze(mean, -1)), raw::unsqueeze(rstd, -1));
  raw::copy_(grad_shift, raw::sum(g, {1}));
  raw::copy_(grad_scale, raw::sum(raw::mul(g, xhat), {1}));
  layer_norm_backward(grad_x, raw::mul(g, per_image(raw::add_scalar(scale, 1.0))), x, mean, rstd);
}

void Backend::gated_add(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y) {
  raw::copy_(out, raw::add(x, raw::mul(per_image(gate), y)));
}

void Backend::gated_add_backward(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                                 const Tensor& gate) {
  raw::copy_(grad_y, raw::mul(g, per_image(gate)));
  raw::copy_(grad_gate, raw::sum(raw::mul(g, y), {1}));
}

namespace {
// P = softmax(scale q k^T) rebuilt from the rows' log-sum-exp: exp(scale q k^T - lse).
Tensor attention_probs(const Tensor& q, const Tensor& k, const Tensor& lse, double scale) {
  Tensor scores = Tensor::empty({q.size(0), q.size(1), q.size(2), k.size(2)}, q.dtype(), q.device());
  raw::matmul_into(scores, q, raw::transpose(k, -1, -2), scale);
  return raw::unary(UnaryOp::Exp, raw::sub(scores, raw::unsqueeze(lse, -1)));
}
}  // namespace

void Backend::attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                        double scale) {
  Tensor scores = Tensor::empty({q.size(0), q.size(1), q.size(2), k.size(2)}, q.dtype(), q.device());
  raw::matmul_into(scores, q, raw::transpose(k, -1, -2), scale);
  Tensor log_p = raw::softmax(scores, -1, true);  // scores - lse
  raw::copy_(lse, raw::sub(raw::select(scores, -1, 0), raw::select(log_p, -1, 0)));
  raw::matmul_into(out, raw::unary(UnaryOp::Exp, log_p), v);
}

void Backend::attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go,
                                 const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                 const Tensor& lse, double scale) {
  Tensor p = attention_probs(q, k, lse, scale);  // (B, H, N, N)
  Tensor gp = raw::matmul(go, raw::transpose(v, -1, -2));
  Tensor gs = raw::softmax_backward(gp, p, -1, false);  // d/d(scaled scores)
  raw::matmul_into(gq, gs, k, scale);
  raw::matmul_into(gk, raw::transpose(gs, -1, -2), q, scale);
  raw::matmul_into(gv, raw::transpose(p, -1, -2), go);
}

void Backend::adamw_group(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                          const std::vector<Tensor>& ms, const std::vector<Tensor>& vs, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  for (size_t i = 0; i < params.size(); ++i)
    adamw(params[i], grads[i], ms[i], vs[i], lr, beta1, beta2, eps, weight_decay, step, grad_scale);
}

double Backend::sum_of_squares(const std::vector<Tensor>& ts) {
  double total = 0;
  for (const Tensor& t : ts) total += raw::sum(raw::unary(UnaryOp::Square, t)).item();
  return total;
}

void Backend::bias_gelu(const Tensor& out, const Tensor& pre, const Tensor& bias) {
  raw::add_(pre, bias);
  raw::copy_(out, raw::unary(UnaryOp::GeluTanh, pre));
}

void Backend::bias_gelu_backward(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre) {
  raw::copy_(grad_pre, raw::binary(BinaryOp::GeluTanhBackward, pre, g));
  raw::copy_(grad_bias, raw::sum(grad_pre, {0}));
}

namespace {
Tensor row_norms(const Tensor& x) { return raw::unary(UnaryOp::Sqrt, raw::sum(raw::mul(x, x), {1})); }  // (T)
}  // namespace

void Backend::cosine_scores(const Tensor& z, const Tensor& rnorm, const Tensor& x, const Tensor& q, double eps) {
  const Tensor norm = row_norms(x);
  raw::copy_(rnorm, raw::unary(UnaryOp::Reciprocal,
                               raw::unary(UnaryOp::Clamp, norm, eps, std::numeric_limits<double>::infinity())));
  raw::copy_(z, raw::mul(raw::matmul(x, raw::transpose(q, 0, 1)), raw::unsqueeze(rnorm, 1)));
}

void Backend::cosine_scores_backward(const Tensor& gx, const Tensor& gz_scaled, const Tensor& gz, const Tensor& z,
                                     const Tensor& x, const Tensor& q, const Tensor& rnorm, double eps) {
  const Tensor r = raw::unsqueeze(rnorm, 1);  // (T, 1)
  raw::copy_(gz_scaled, raw::mul(gz, r));
  // d rnorm / d x = -x rnorm^3 where |x| > eps, 0 where the norm is clamped.
  const Tensor norm = raw::unsqueeze(row_norms(x), 1);
  const Tensor unclamped = raw::binary(BinaryOp::Gt, norm, raw::scalar(eps, norm.dtype(), norm.device()));
  const Tensor c = raw::mul(raw::mul(raw::sum(raw::mul(gz, z), {1}, true), raw::mul(r, r)), unclamped);  // (T, 1)
  raw::copy_(gx, raw::sub(raw::matmul(gz_scaled, q), raw::mul(x, c)));
}

void Backend::ema_group(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) {
  for (size_t i = 0; i < shadows.size(); ++i)
    raw::copy_(shadows[i], raw::add(raw::mul_scalar(shadows[i], decay), raw::mul_scalar(params[i], 1.0 - decay)));
}

void Backend::grouped_linear(const std::vector<Tensor>& outs, const std::vector<Tensor>& gelus,
                             const std::vector<Tensor>& as, const std::vector<Tensor>& bs,
                             const std::vector<Tensor>& biases) {
  grouped_matmul(outs, as, bs);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (gelus.empty())
      raw::add_(outs[i], biases[i]);
    else
      bias_gelu(gelus[i], outs[i], biases[i]);
  }
}

void Backend::grouped_bias_gelu_backward(const std::vector<Tensor>& grad_pres, const std::vector<Tensor>& grad_biases,
                                         const std::vector<Tensor>& gs, const std::vector<Tensor>& pres) {
  for (size_t i = 0; i < pres.size(); ++i) bias_gelu_backward(grad_pres[i], grad_biases[i], gs[i], pres[i]);
}

}  // namespace promoe
