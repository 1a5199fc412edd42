// Rectified-flow training objective exactly as the official ProMoE `train.py` (spec §4.1):
//   u ~ N(logit_mean, logit_std²), u *= sigmoid_scale, σ = sigmoid(u), σ' = s·σ/(1+(s−1)σ) (s = shift,
//   1 by default, which leaves σ unchanged), model time t = 1000·σ (float, x's dtype),
//   x_σ = (1 − σ)·x0 + σ·ε (σ = 1 is pure noise), target v = ε − x0,
//   loss = mean over the batch of the per-sample mean over (C, H, W) of (out[:, :C] − v)² (equal to a
//   plain mean over all elements, since every sample has the same C·H·W).
// The prediction is channels 0..C−1 of the model output whether or not it learns sigma.
//
// Choices where the spec is silent:
// - Random draws come from a promoe::Generator in this order: u (B values), then ε (B·C·H·W values).
//   The official code draws u first as well, but torch's RNG is not reproduced, so only the order
//   and the distributions match.
// - σ, t and ε are drawn in x0's dtype and on x0's device.
// - The loss is computed in x0's dtype as mean_b(mean_chw(…)), the official reduction order.
#pragma once
#include "diffusion/denoiser.h"
#include "tensor/random.h"

namespace promoe::diffusion {

struct RFConfig {
  double logit_mean = 0.0;
  double logit_std = 1.0;
  double sigmoid_scale = 1.0;
  double shift = 1.0;                   // training time shift (1 = none, as all ProMoE configs)
  double num_train_timesteps = 1000.0;  // model time = σ · this
};

struct RFLoss {
  Tensor loss;       // [] differentiable w.r.t. everything the model output depends on
  Tensor sigma;      // (B) the noise level used
  Tensor t;          // (B) the model time passed to the model (1000·σ)
  Tensor noise;      // (B, C, H, W) ε
  Tensor x_t;        // (B, C, H, W) the noised input fed to the model
  Tensor model_out;  // the raw model output, (B, C or 2C, H, W)
};

// σ (B) by logit-normal sampling (and the shift, when not 1), in `dtype` on `device`.
Tensor rf_sample_sigma(Generator& gen, int64_t batch, const RFConfig& cfg = {}, DType dtype = DType::F32,
                       Device device = Device::cpu());

// Model time t = num_train_timesteps · σ, in σ's dtype.
Tensor rf_model_time(const Tensor& sigma, const RFConfig& cfg = {});

// x_σ = (1 − σ)·x0 + σ·ε, σ (B) broadcast over the other dims. Differentiable.
Tensor rf_interpolate(const Tensor& x0, const Tensor& sigma, const Tensor& noise);

// The loss from an already computed model output: mean_b mean_chw (out[:, :C] − (ε − x0))².
Tensor rf_mse_loss(const Tensor& model_out, const Tensor& x0, const Tensor& noise);

// Lower level: explicit σ (B) and ε (like x0), as parity cases give them (input.sigma, input.noise).
RFLoss rf_training_loss(const DenoiserFn& model, const Tensor& x0, const Tensor& y, const Tensor& sigma,
                        const Tensor& noise, const RFConfig& cfg = {});

// Draws σ then ε from `gen` and evaluates the loss.
RFLoss rf_training_loss(const DenoiserFn& model, const Tensor& x0, const Tensor& y, Generator& gen,
                        const RFConfig& cfg = {});

}  // namespace promoe::diffusion
