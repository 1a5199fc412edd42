// Samplers: rectified-flow Euler (official ProMoE `sample.py`), DDPM ancestral and DDIM on a
// respaced DiT/ADM schedule, and the two classifier-free-guidance conventions. Everything runs
// under NoGradGuard; the returned tensors carry no autograd history.
//
// RF Euler (spec §5.1): σ_i = 1 − i/steps (NumPy linspace(1, 0, steps+1)[:steps], optional sample
//   shift σ' = s·σ/(1+(s−1)σ)), rounded to f32 as diffusers does, σ_steps = 0 appended. The model is
//   called with t_i = σ_i·1000 (f32 arithmetic), and x ← x + (σ_{i+1} − σ_i)·v̂ with v̂ the first C
//   channels of the (guided) output. 250 steps: first t = 1000, last t = 4.
// DDPM (spec §5.2): ADM `p_sample_loop` on `GaussianDiffusion::create(respacing)`: the model gets the
//   ORIGINAL step (timestep_map), the learned-range variance of the respaced process, no noise at
//   the final step, clip_denoised false by default (DiT sample.py).
// DDIM: ADM `ddim_sample_loop` on the same respaced process, eta = 0 by default.
//
// Guidance:
// - rf_guided (official sample.py): a separate null-label forward; v = v_u + s·(v_c − v_u) on ALL
//   output channels (the sampler then takes channels 0..C−1).
// - dit_guided (DiT `forward_with_cfg`): ONE forward on the doubled batch [x; x], labels [y; null],
//   guidance applied to the first `guided_channels` channels only (3 in DiT: a documented quirk,
//   even though ε has 4 channels); the remaining channels (the rest of ε and the variance) are the
//   conditional half's.
// - Both only guide when s > 1, as both official scripts (`if scale > 1.0`): with s ≤ 1 just the
//   conditional pass runs (there is no extrapolation toward the unconditional model for s < 1).
//
// Choices where the spec is silent:
// - Random draws come from a promoe::Generator: the initial noise first (shape overloads), then the
//   per-step noise of DDPM (drawn at every step, including the last where it is masked out, as ADM)
//   and of DDIM (only when eta > 0). Guidance never doubles the sampled batch itself: DiT samples
//   the doubled batch and discards the unconditional half, which only changes RNG consumption.
// - Sampling computes in the dtype of the initial noise (f32 in practice); t has that dtype too.
// - `guided_channels` larger than the output's channel count is clipped to it.
#pragma once
#include <vector>

#include "diffusion/denoiser.h"
#include "diffusion/gaussian_diffusion.h"
#include "tensor/random.h"

namespace promoe::diffusion {

// Classifier-free guidance wrappers. `null_label` is the unconditional class (= num_classes).
DenoiserFn rf_guided(DenoiserFn model, double scale, int64_t null_label);
DenoiserFn dit_guided(DenoiserFn model, double scale, int64_t null_label, int64_t guided_channels = 3);

struct RFSampleOptions {
  int64_t steps = 250;
  double shift = 1.0;                   // sample shift (1 = none, as sample.py)
  double num_train_timesteps = 1000.0;  // model time = σ · this
  double cfg_scale = 1.0;               // > 1 enables guidance (rf_guided)
  int64_t num_classes = 1000;           // the null label
  ProgressFn progress;
};

// The f32 noise levels σ_0..σ_steps (the last one 0).
std::vector<float> rf_sampling_sigmas(int64_t steps, double shift = 1.0);

// Euler integration from σ = 1 (x = noise) to σ = 0. `y` (B) i64 labels.
Tensor rf_euler_sample(const DenoiserFn& model, const Tensor& noise, const Tensor& y, const RFSampleOptions& opt = {});
// Draws the initial noise of `shape` (f32, on y's device) from `gen`.
Tensor rf_euler_sample(const DenoiserFn& model, const Shape& shape, const Tensor& y, Generator& gen,
                       const RFSampleOptions& opt = {});

struct DDPMSampleOptions {
  int64_t steps = 250;             // respaced step count: space_timesteps(diffusion_steps, {steps})
  std::string timestep_respacing;  // overrides `steps` when set ("250", "10,20", "ddim50", ...)
  int64_t diffusion_steps = 1000;  // the training process (linear betas)
  double cfg_scale = 1.0;          // > 1 enables guidance (dit_guided)
  int64_t num_classes = 1000;      // the null label
  int64_t guided_channels = 3;     // DiT's forward_with_cfg guides channels [0, 3)
  bool clip_denoised = false;      // DiT sample.py passes False
  double eta = 0.0;                // DDIM only
  ProgressFn progress;
};

// The respaced process the DDPM/DDIM samplers use for `opt`.
GaussianDiffusion sampling_diffusion(const DDPMSampleOptions& opt);

// Ancestral DDPM sampling with the learned variance (ADM p_sample_loop).
Tensor ddpm_sample(const DenoiserFn& model, const Tensor& noise, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt = {});
Tensor ddpm_sample(const DenoiserFn& model, const Shape& shape, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt = {});

// DDIM sampling (ADM ddim_sample_loop); deterministic for eta = 0.
Tensor ddim_sample(const DenoiserFn& model, const Tensor& noise, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt = {});
Tensor ddim_sample(const DenoiserFn& model, const Shape& shape, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt = {});

}  // namespace promoe::diffusion
