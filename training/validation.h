// The validation loss logged during training: the training objective's loss of the current
// weights on a fixed held-out set, with noise levels and noise drawn from a generator of its own
// (seeded by a constant), so every evaluation sees the same draws and the training generator,
// hence exact resume, is untouched. Evaluated in eval mode (no class dropout) under no-grad.
#pragma once
#include <string>

#include "nn/dit.h"

namespace promoe::training {

inline constexpr uint64_t kValidationSeed = 0x7661;  // "va"

// images (N, C, H, W) and labels (N) on any device; the mean over all N of the per-sample loss.
double validation_loss(nn::DiT& model, const std::string& objective, const Tensor& images, const Tensor& labels,
                       int64_t batch = 64, uint64_t seed = kValidationSeed);

}  // namespace promoe::training
