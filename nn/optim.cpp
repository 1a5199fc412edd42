// AdamW, gradient clipping and EMA.
#include "nn/optim.h"

#include <cmath>

#include "autograd/node.h"
#include "nn/fused_optim.h"

namespace promoe::nn {

AdamW::AdamW(NamedTensors p, AdamWOptions o) : options(o), params(std::move(p)) {
  for (auto& [name, t] : params) {
    PROMOE_CHECK(t.is_contiguous(), "adamw: parameter ", name, " is not contiguous");
    exp_avg.push_back(raw::zeros(t.shape(), t.dtype(), t.device()));
    exp_avg_sq.push_back(raw::zeros(t.shape(), t.dtype(), t.device()));
  }
}

void AdamW::step(double grad_scale) {
  NoGradGuard ng;
  ++step_count;
  if (params.empty()) return;
  std::vector<Tensor> ps, gs;
  for (auto& [name, p] : params) {
    Tensor g = p.grad();
    ps.push_back(p);
    gs.push_back(g.defined() ? raw::contiguous(g) : raw::zeros(p.shape(), p.dtype(), p.device()));
  }
  // One call for the whole list: the parameters share one device (Module::to moves them together).
  fused::adamw_list_op(ps[0].device(), ps, gs, exp_avg, exp_avg_sq, options.lr * lr_scale, options.beta1, options.beta2,
                       options.eps, options.weight_decay, step_count, grad_scale);
}

void AdamW::zero_grad() {
  for (auto& [name, t] : params) t.zero_grad();
}

GradClip grad_clip(const NamedTensors& params, double max_norm) {
  std::vector<Tensor> grads;
  for (auto& [name, t] : params)
    if (t.grad().defined()) grads.push_back(t.grad());
  return clip_for_norm(std::sqrt(fused::sum_of_squares(grads)), max_norm);
}

GradClip clip_for_norm(double norm, double max_norm) {
  const double coef = max_norm / (norm + 1e-6);
  return {norm, coef < 1.0 ? coef : 1.0};
}

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  NoGradGuard ng;
  GradClip c = grad_clip(params, max_norm);
  if (c.scale < 1.0)
    for (auto& [name, t] : params) {
      Tensor handle = t;
      Tensor g = handle.grad();
      if (g.defined()) handle.set_grad(raw::mul_scalar(g, c.scale));
    }
  return c.norm;
}

Ema::Ema(const NamedTensors& params, double d) : decay(d) {
  for (auto& [name, t] : params) shadow.emplace_back(name, raw::clone(t.detach()));
}

void Ema::update(const NamedTensors& params) {
  NoGradGuard ng;
  std::vector<Tensor> s, p;
  for (size_t i = 0; i < params.size(); ++i) {
    s.push_back(shadow[i].second);
    p.push_back(params[i].second.detach());
  }
  fused::ema_update_(s, p, decay);  // s = decay * s + (1 - decay) * p, one pass over all of them
}

}  // namespace promoe::nn
