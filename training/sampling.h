// Class-conditional generation for `promoe sample` and the end of `promoe train`: per_class samples
// of every class (rows of a grid, one per class), with the EMA weights, classifier-free guidance and
// the sampler of the training objective (Euler for RF; DDPM or DDIM for DDPM).
#pragma once
#include <string>

#include "nn/dit.h"

namespace promoe::training {

struct SampleOptions {
  int64_t per_class = 8;
  int64_t steps = 50;
  double cfg_scale = 1.5;
  std::string sampler = "euler";  // euler | ddpm | ddim
  uint64_t seed = 0;
  int64_t batch = 64;              // samples per model call
  std::string precision = "fp32";  // matrix products: fp32 | bf16 (tensor/precision.h)
  bool progress = true;
};

// (num_classes * per_class, C, H, W): class 0's samples first.
Tensor generate(const nn::DiT& model, const SampleOptions& options);

}  // namespace promoe::training
