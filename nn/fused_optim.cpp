// The optimizer's fused ops: composed references and checked entry points.
#include "nn/fused_optim.h"

#include <cmath>

namespace promoe::nn::fused {

// As torch.optim.AdamW: p *= 1 - lr wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
void adamw_reference(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                     double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  const Tensor g = raw::mul_scalar(grad, grad_scale);
  raw::copy_(param, raw::mul_scalar(param, 1.0 - lr * weight_decay));
  raw::add_(m, raw::mul_scalar(raw::sub(g, m), 1.0 - beta1));
  raw::copy_(v, raw::add(raw::mul_scalar(v, beta2), raw::mul_scalar(raw::mul(g, g), 1.0 - beta2)));
  const Tensor denom = raw::add_scalar(raw::mul_scalar(raw::unary(UnaryOp::Sqrt, v), 1.0 / bias2_sqrt), eps);
  raw::copy_(param, raw::sub(param, raw::mul_scalar(raw::div(m, denom), lr / bias1)));
}

void adamw_list_reference(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                          const std::vector<Tensor>& ms, const std::vector<Tensor>& vs, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  for (size_t i = 0; i < params.size(); ++i)
    adamw_op(params[i].device(), params[i], grads[i], ms[i], vs[i], lr, beta1, beta2, eps, weight_decay, step,
             grad_scale);
}

void ema_list_reference(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) {
  for (size_t i = 0; i < shadows.size(); ++i)
    raw::copy_(shadows[i], raw::add(raw::mul_scalar(shadows[i], decay), raw::mul_scalar(params[i], 1.0 - decay)));
}

double sum_of_squares_reference(const std::vector<Tensor>& ts) {
  double total = 0;
  for (const Tensor& t : ts) total += raw::sum(raw::unary(UnaryOp::Square, raw::to(t, DType::F64))).item();
  return total;
}

double sum_of_squares(const std::vector<Tensor>& ts) {
  std::vector<Tensor> dense;
  for (const Tensor& t : ts) {
    raw::check_floating(t, "sum_of_squares");
    raw::check_same_device(ts[0], t, "sum_of_squares");
    if (t.numel()) dense.push_back(raw::contiguous(t));
  }
  return dense.empty() ? 0.0 : sum_of_squares_op(dense[0].device(), dense);
}

void ema_update_(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) {
  PROMOE_CHECK(shadows.size() == params.size(), "ema_update_: ", shadows.size(), " shadows for ", params.size(),
               " parameters");
  std::vector<Tensor> s, p;
  for (size_t i = 0; i < shadows.size(); ++i) {
    raw::check_floating(shadows[i], "ema_update_");
    raw::check_same_device(shadows[0], shadows[i], "ema_update_");
    raw::check_same_device(shadows[i], params[i], "ema_update_");
    raw::check_same_dtype(shadows[i], params[i], "ema_update_");
    PROMOE_CHECK(shadows[i].shape() == params[i].shape() && shadows[i].is_contiguous(), "ema_update_: shadow ",
                 describe(shadows[i]), " must be contiguous and match ", describe(params[i]));
    if (!shadows[i].numel()) continue;
    s.push_back(shadows[i]);
    p.push_back(raw::contiguous(params[i]));
  }
  if (!s.empty()) ema_list_op(s[0].device(), s, p, decay);
}

}  // namespace promoe::nn::fused
