// Training utilities with PyTorch's semantics: AdamW, global-norm gradient clipping, EMA.
#pragma once
#include "nn/module.h"

namespace promoe::nn {

struct AdamWOptions {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// torch.optim.AdamW over a fixed list of named parameters. A parameter without a gradient steps
// with a zero gradient (an idle expert still decays and follows its momentum, as in the official
// training where such experts receive zero gradients).
class AdamW {
 public:
  AdamW(NamedTensors params, AdamWOptions options);
  // One step with every gradient read as grad * grad_scale (a clipping factor, see grad_clip).
  void step(double grad_scale = 1.0);
  void zero_grad();

  AdamWOptions options;
  int64_t step_count = 0;
  NamedTensors params;
  // Moments in parameter order, named "<param>.exp_avg" / ".exp_avg_sq" in checkpoints.
  std::vector<Tensor> exp_avg, exp_avg_sq;
  double lr_scale = 1.0;  // multiplies options.lr (warm-up)
};

// The global L2 norm of the gradients and the factor torch.nn.utils.clip_grad_norm_ scales them by:
// max_norm / (norm + 1e-6) when that is below 1, else 1. Training passes the factor to
// AdamW::step instead of rewriting every gradient.
struct GradClip {
  double norm, scale;
};
GradClip grad_clip(const NamedTensors& params, double max_norm);
// The same factor for a norm computed elsewhere (over the gradients of several ranks).
GradClip clip_for_norm(double norm, double max_norm);
// torch.nn.utils.clip_grad_norm_: scales every gradient in place by grad_clip's factor. Returns the
// global L2 norm before clipping.
double clip_grad_norm(const NamedTensors& params, double max_norm);

// Exponential moving average of parameters: ema = decay * ema + (1 - decay) * param.
class Ema {
 public:
  Ema(const NamedTensors& params, double decay);
  void update(const NamedTensors& params);
  double decay;
  NamedTensors shadow;  // same names as the model's parameters
};

}  // namespace promoe::nn
