// The model as the diffusion code sees it: a function of the noised input, the model time and the
// class labels. Training objectives (rectified_flow.h, gaussian_diffusion.h) and samplers
// (samplers.h) only ever call this, so any network (dense DiT, ProMoE, a toy in a test) plugs in.
//
//   x  (B, C, H, W)  floating (f32 in practice; f64 in gradient checks)
//   t  (B)           model time in x's dtype: 1000·σ for rectified flow, the ORIGINAL (un-respaced)
//                    integer step 0..999 for DDPM
//   y  (B)           i64 class labels; the null (unconditional) class is `num_classes`
//   returns (B, 2C, H, W) when the model learns sigma (channels 0..C-1 the prediction, C..2C-1 the
//   variance interpolation v in [-1, 1]), or (B, C, H, W) without learned sigma.
#pragma once
#include <cstdint>
#include <functional>

#include "tensor/tensor.h"

namespace promoe::diffusion {

using DenoiserFn = std::function<Tensor(const Tensor& x, const Tensor& t, const Tensor& y)>;

// Called by the samplers after each step with the 0-based step index and the total step count.
using ProgressFn = std::function<void(int64_t step, int64_t total)>;

}  // namespace promoe::diffusion
