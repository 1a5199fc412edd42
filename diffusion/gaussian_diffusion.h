// DDPM (Gaussian diffusion) as in DiT / ADM (`diffusion/gaussian_diffusion.py`, `respace.py`,
// `diffusion_utils.py`), the configuration the DiffMoE repository uses (spec §4.2):
// linear betas 1e-4..0.02 over 1000 steps, ε-prediction, LEARNED_RANGE variance, loss type MSE.
//
// All schedule arrays are float64, computed with the same formulas and evaluation order as ADM.
// Coefficients are gathered per sample at t and cast to x's dtype before use (ADM's
// `_extract_into_tensor(...).float()`), so f32 inputs compute in f32 like the reference.
//
// Timesteps: every `t` argument is an index into THIS process (0..num_timesteps−1). For a respaced
// process `timestep_map[t]` is the original step, and that is what the model receives (ADM's
// `_WrappedModel`). `t` tensors may be i64 or exact-valued floats (parity cases store either).
//
// Choices where the spec is silent:
// - `create()` always builds through the respacing path, as DiT's `create_diffusion` does, even with
//   no respacing: the betas are then recomputed as 1 − ᾱ_i/ᾱ_{i−1}, which differ from the linspace
//   betas in the last bits, exactly as in DiT.
// - A model output with C channels (no learned sigma) gets FIXED_LARGE variance and no VLB term
//   (DiT's create_diffusion with learn_sigma=False); with 2C channels it is LEARNED_RANGE.
// - A 1-step process (posterior variance 0 everywhere) uses log β_0 as its clipped posterior
//   log-variance (ADM leaves the array empty and fails).
// - `training_losses(..., gen)` draws t ~ U{0..T−1} first, then ε, as DiT's train.py + ADM do.
#pragma once
#include <string>
#include <vector>

#include "diffusion/denoiser.h"
#include "tensor/random.h"

namespace promoe::diffusion {

// ADM `get_named_beta_schedule("linear", T)`: linspace(s·1e-4, s·0.02, T) with s = 1000/T (NumPy's
// linspace arithmetic: start + i·step, the last value set to stop).
std::vector<double> linear_beta_schedule(int64_t num_timesteps = 1000);

// ADM `space_timesteps`: the sorted list of original steps kept. `section_counts` splits the process
// into equal sections and takes that many evenly strided steps (Python round, half to even) of each.
std::vector<int64_t> space_timesteps(int64_t num_timesteps, const std::vector<int64_t>& section_counts);
// The string form: "250", "10,15,20", or "ddimN" (the fixed integer stride of the DDIM paper).
std::vector<int64_t> space_timesteps(int64_t num_timesteps, const std::string& section_counts);

// Elementwise helpers of `diffusion_utils.py` (differentiable, any floating dtype).
// KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats.
Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2);
// 0.5·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
Tensor approx_standard_normal_cdf(const Tensor& x);
// log-likelihood (nats) of x (data in [−1, 1], 256 levels) under a Gaussian discretised into bins of
// width 2/255, with the open-ended bins at x < −0.999 and x > 0.999.
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales);

struct PosteriorMeanVariance {
  Tensor mean, variance, log_variance_clipped;  // q(x_{t−1} | x_t, x0)
};

struct PMeanVariance {
  Tensor mean, variance, log_variance, pred_xstart;  // p(x_{t−1} | x_t) from a model output
};

struct DDPMLoss {
  Tensor loss;       // [] mean over the batch of (mse_b + vlb_b): what is back-propagated
  Tensor mse;        // [] mean over the batch of mean_chw (ε − ε̂)²
  Tensor vlb;        // [] mean over the batch of the VLB term (bits/dim); undefined without learned sigma
  Tensor t;          // (B) i64 indices into the process used
  Tensor noise;      // (B, C, H, W) ε
  Tensor x_t;        // (B, C, H, W) the noised input
  Tensor model_out;  // the raw model output
};

struct GaussianDiffusion {
  // A process from explicit betas; `timestep_map` (empty = identity) gives the model timestep of
  // each index.
  explicit GaussianDiffusion(std::vector<double> betas, std::vector<int64_t> timestep_map = {});

  // DiT `create_diffusion(timestep_respacing, "linear", learn_sigma=True, diffusion_steps)`:
  // "" = all steps (training), "250" = 250 evenly respaced steps (sampling), "ddim50", ...
  static GaussianDiffusion create(const std::string& timestep_respacing = "", int64_t diffusion_steps = 1000);
  // ADM `SpacedDiffusion`: keeps `use_timesteps` (original indices) of the process with `base_betas`;
  // betas are rebuilt from ᾱ at the kept steps (1 − ᾱ_i / ᾱ_prev).
  static GaussianDiffusion spaced(const std::vector<double>& base_betas, std::vector<int64_t> use_timesteps);

  int64_t num_timesteps = 0;
  std::vector<int64_t> timestep_map;  // original step of each index
  std::vector<double> betas, log_betas, alphas_cumprod, alphas_cumprod_prev, alphas_cumprod_next;
  std::vector<double> sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod, log_one_minus_alphas_cumprod;
  std::vector<double> sqrt_recip_alphas_cumprod, sqrt_recipm1_alphas_cumprod;
  std::vector<double> posterior_variance, posterior_log_variance_clipped;
  std::vector<double> posterior_mean_coef1, posterior_mean_coef2;
  std::vector<double> fixed_large_variance, log_fixed_large_variance;  // append(posterior_variance[1], betas[1:])

  // arr[t_b] for each sample, shaped (B, 1, ..., 1) like `like`'s rank, in like's dtype and device.
  Tensor extract(const std::vector<double>& arr, const Tensor& t, const Tensor& like) const;
  // timestep_map[t] as a (B) tensor of `dtype` (what the model receives).
  Tensor model_timesteps(const Tensor& t, DType dtype = DType::F32) const;

  Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const;
  PosteriorMeanVariance q_posterior_mean_variance(const Tensor& x0, const Tensor& x_t, const Tensor& t) const;
  Tensor predict_xstart_from_eps(const Tensor& x_t, const Tensor& t, const Tensor& eps) const;
  Tensor predict_eps_from_xstart(const Tensor& x_t, const Tensor& t, const Tensor& pred_xstart) const;
  // p(x_{t−1} | x_t) from a model output already computed at (x_t, t): (B, 2C, ...) LEARNED_RANGE
  // with frac = (v + 1)/2 between log β_t and the clipped posterior log-variance, or (B, C, ...)
  // FIXED_LARGE. clip_denoised clamps pred_xstart to [−1, 1].
  PMeanVariance p_mean_variance(const Tensor& model_out, const Tensor& x_t, const Tensor& t,
                                bool clip_denoised = false) const;
  // ADM `_vb_terms_bpd` for a given model output: per sample (B), in bits: the decoder NLL where
  // t == 0, KL(q posterior || p) elsewhere, each a mean over the non-batch dims.
  Tensor vb_terms_bpd(const Tensor& model_out, const Tensor& x0, const Tensor& x_t, const Tensor& t) const;

  // ADM `training_losses` (loss type MSE) from a model output already computed at (x_t, t): the VLB
  // sees the ε-prediction detached and the variance channels attached.
  DDPMLoss losses_from_output(const Tensor& model_out, const Tensor& x0, const Tensor& x_t, const Tensor& t,
                              const Tensor& noise) const;
  // With explicit t (B) and ε, as parity cases give them (input.t, input.noise).
  DDPMLoss training_losses(const DenoiserFn& model, const Tensor& x0, const Tensor& y, const Tensor& t,
                           const Tensor& noise) const;
  // Draws t ~ U{0..T−1} then ε from `gen`.
  DDPMLoss training_losses(const DenoiserFn& model, const Tensor& x0, const Tensor& y, Generator& gen) const;

  // Host copy of t (i64 or exact floats), checked against [0, num_timesteps).
  std::vector<int64_t> timesteps_of(const Tensor& t) const;
};

}  // namespace promoe::diffusion
