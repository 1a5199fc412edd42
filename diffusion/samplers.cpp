// RF Euler, DDPM ancestral and DDIM samplers with classifier-free guidance (see samplers.h).
#include "diffusion/samplers.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"

namespace promoe::diffusion {

namespace {

Tensor null_labels(const Tensor& y, int64_t null_label) {
  return raw::full({y.size(0)}, double(null_label), DType::I64, y.device());
}

void check_sample_inputs(const Tensor& x, const Tensor& y, const char* who) {
  PROMOE_CHECK(x.dim() >= 2, who, ": noise must be (B, C, ...), got ", describe(x));
  PROMOE_CHECK(y.dim() == 1 && y.size(0) == x.size(0) && y.dtype() == DType::I64, who,
               ": labels must be i64 (B) matching the noise, got ", describe(y), " for ", describe(x));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Guidance

DenoiserFn rf_guided(DenoiserFn model, double scale, int64_t null_label) {
  if (!(scale > 1.0)) return model;
  return [model = std::move(model), scale, null_label](const Tensor& x, const Tensor& t, const Tensor& y) {
    Tensor cond = model(x, t, y);
    Tensor uncond = model(x, t, null_labels(y, null_label));
    return uncond + (cond - uncond) * scale;
  };
}

DenoiserFn dit_guided(DenoiserFn model, double scale, int64_t null_label, int64_t guided_channels) {
  if (!(scale > 1.0)) return model;
  PROMOE_CHECK(guided_channels >= 1, "dit_guided: guided_channels must be positive, got ", guided_channels);
  return [model = std::move(model), scale, null_label, guided_channels](const Tensor& x, const Tensor& t,
                                                                        const Tensor& y) {
    const int64_t B = x.size(0);
    Tensor out = model(cat({x, x}, 0), cat({t, t}, 0), cat({y, null_labels(y, null_label)}, 0));
    PROMOE_CHECK(out.dim() >= 2 && out.size(0) == 2 * B, "dit_guided: the model returned ", describe(out),
                 " for a doubled batch of ", 2 * B);
    const int64_t channels = out.size(1), k = std::min(guided_channels, channels);
    Tensor cond = narrow(out, 0, 0, B), uncond = narrow(out, 0, B, B);
    Tensor c = narrow(cond, 1, 0, k), u = narrow(uncond, 1, 0, k);
    Tensor guided = u + (c - u) * scale;
    if (k == channels) return guided;
    return cat({guided, narrow(cond, 1, k, channels - k)}, 1);
  };
}

// ---------------------------------------------------------------------------------------------
// Rectified flow

std::vector<float> rf_sampling_sigmas(int64_t steps, double shift) {
  PROMOE_CHECK(steps >= 1, "rf_sampling_sigmas: need at least one step, got ", steps);
  std::vector<float> s(static_cast<size_t>(steps) + 1);
  const double step = (0.0 - 1.0) / double(steps);  // NumPy linspace(1, 0, steps + 1)
  for (int64_t i = 0; i < steps; ++i) {
    double sigma = double(i) * step + 1.0;
    if (shift != 1.0) sigma = shift * sigma / (1.0 + (shift - 1.0) * sigma);
    s[size_t(i)] = float(sigma);
  }
  s.back() = 0.0f;
  return s;
}

Tensor rf_euler_sample(const DenoiserFn& model, const Tensor& noise, const Tensor& y, const RFSampleOptions& opt) {
  check_sample_inputs(noise, y, "rf_euler_sample");
  NoGradGuard no_grad;
  const int64_t B = noise.size(0), C = noise.size(1);
  const std::vector<float> sigmas = rf_sampling_sigmas(opt.steps, opt.shift);
  const float t_scale = float(opt.num_train_timesteps);
  DenoiserFn guided = rf_guided(model, opt.cfg_scale, opt.num_classes);
  Tensor x = noise.detach();
  for (int64_t i = 0; i < opt.steps; ++i) {
    const float sigma = sigmas[size_t(i)], sigma_next = sigmas[size_t(i) + 1];
    const float t_value = sigma * t_scale;
    Tensor t = raw::full({B}, double(t_value), x.dtype(), x.device());
    Tensor out = guided(x, t, y);
    PROMOE_CHECK(out.dim() == x.dim() && out.size(0) == B && out.size(1) >= C, "rf_euler_sample: model output ",
                 describe(out), " does not fit ", describe(x));
    Tensor v = narrow(out, 1, 0, C);
    const float dt = sigma_next - sigma;
    x = x + v * double(dt);
    if (opt.progress) opt.progress(i, opt.steps);
  }
  return x;
}

Tensor rf_euler_sample(const DenoiserFn& model, const Shape& shape, const Tensor& y, Generator& gen,
                       const RFSampleOptions& opt) {
  Tensor noise = gen.randn(shape, DType::F32, y.device());
  return rf_euler_sample(model, noise, y, opt);
}

// ---------------------------------------------------------------------------------------------
// DDPM / DDIM

GaussianDiffusion sampling_diffusion(const DDPMSampleOptions& opt) {
  const std::string spacing = opt.timestep_respacing.empty() ? std::to_string(opt.steps) : opt.timestep_respacing;
  return GaussianDiffusion::create(spacing, opt.diffusion_steps);
}

namespace {

enum class Kind { Ancestral, DDIM };

Tensor ddpm_loop(Kind kind, const DenoiserFn& model, const Tensor& noise, const Tensor& y, Generator& gen,
                 const DDPMSampleOptions& opt) {
  check_sample_inputs(noise, y, kind == Kind::DDIM ? "ddim_sample" : "ddpm_sample");
  NoGradGuard no_grad;
  const GaussianDiffusion diffusion = sampling_diffusion(opt);
  const int64_t B = noise.size(0), T = diffusion.num_timesteps;
  DenoiserFn guided = dit_guided(model, opt.cfg_scale, opt.num_classes, opt.guided_channels);
  Tensor x = noise.detach();
  for (int64_t i = T - 1, step = 0; i >= 0; --i, ++step) {
    Tensor t = raw::full({B}, double(i), DType::I64, Device::cpu());  // index into the respaced process
    Tensor model_t = raw::to(diffusion.model_timesteps(t, x.dtype()), x.device());
    Tensor out = guided(x, model_t, y);
    PMeanVariance p = diffusion.p_mean_variance(out, x, t, opt.clip_denoised);
    if (kind == Kind::Ancestral) {
      Tensor z = gen.randn(x.shape(), x.dtype(), x.device());
      x = i != 0 ? p.mean + exp(p.log_variance * 0.5) * z : p.mean;
    } else {
      // Re-derive ε from pred_xstart (they differ when clipping), then DDIM's Eq. 12.
      Tensor eps = diffusion.predict_eps_from_xstart(x, t, p.pred_xstart);
      const double ab = diffusion.alphas_cumprod[size_t(i)], abp = diffusion.alphas_cumprod_prev[size_t(i)];
      const double sigma = opt.eta * std::sqrt((1.0 - abp) / (1.0 - ab)) * std::sqrt(1.0 - ab / abp);
      Tensor mean_pred = p.pred_xstart * std::sqrt(abp) + eps * std::sqrt(1.0 - abp - sigma * sigma);
      if (opt.eta != 0.0) {
        Tensor z = gen.randn(x.shape(), x.dtype(), x.device());
        x = i != 0 ? mean_pred + z * sigma : mean_pred;
      } else {
        x = mean_pred;
      }
    }
    if (opt.progress) opt.progress(step, T);
  }
  return x;
}

}  // namespace

Tensor ddpm_sample(const DenoiserFn& model, const Tensor& noise, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt) {
  return ddpm_loop(Kind::Ancestral, model, noise, y, gen, opt);
}

Tensor ddpm_sample(const DenoiserFn& model, const Shape& shape, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt) {
  Tensor noise = gen.randn(shape, DType::F32, y.device());
  return ddpm_loop(Kind::Ancestral, model, noise, y, gen, opt);
}

Tensor ddim_sample(const DenoiserFn& model, const Tensor& noise, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt) {
  return ddpm_loop(Kind::DDIM, model, noise, y, gen, opt);
}

Tensor ddim_sample(const DenoiserFn& model, const Shape& shape, const Tensor& y, Generator& gen,
                   const DDPMSampleOptions& opt) {
  Tensor noise = gen.randn(shape, DType::F32, y.device());
  return ddpm_loop(Kind::DDIM, model, noise, y, gen, opt);
}

}  // namespace promoe::diffusion
