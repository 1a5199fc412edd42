// DDPM schedules, posterior, learned-range variance and the MSE + VLB training loss, as DiT/ADM
// (see gaussian_diffusion.h for the formulas' sources and the choices made).
#include "diffusion/gaussian_diffusion.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>

#include "autograd/ops.h"

namespace promoe::diffusion {

namespace {

std::vector<int64_t> non_batch_dims(const Tensor& a) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < a.dim(); ++d) dims.push_back(d);
  return dims;
}

// ADM mean_flat: mean over all non-batch dims.
Tensor mean_flat(const Tensor& a) { return mean(a, non_batch_dims(a)); }

Tensor scalar_like(double v, const Tensor& like) { return raw::scalar(v, like.dtype(), like.device()); }

// Python's round() on a double: to nearest, ties to even.
int64_t round_half_even(double x) {
  double r = std::nearbyint(x);  // default rounding mode FE_TONEAREST is ties-to-even
  if (std::fegetround() != FE_TONEAREST) {
    double f = std::floor(x), d = x - f;
    r = d < 0.5 ? f : d > 0.5 ? f + 1 : (std::fmod(f, 2.0) == 0 ? f : f + 1);
  }
  return int64_t(r);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Schedules

std::vector<double> linear_beta_schedule(int64_t num_timesteps) {
  PROMOE_CHECK(num_timesteps >= 1, "linear_beta_schedule: need at least one step, got ", num_timesteps);
  const double scale = 1000.0 / double(num_timesteps);
  const double start = scale * 0.0001, stop = scale * 0.02;
  std::vector<double> b(static_cast<size_t>(num_timesteps));
  if (num_timesteps == 1) {
    b[0] = start;
    return b;
  }
  const double step = (stop - start) / double(num_timesteps - 1);
  for (int64_t i = 0; i < num_timesteps; ++i) b[size_t(i)] = double(i) * step + start;
  b.back() = stop;
  return b;
}

std::vector<int64_t> space_timesteps(int64_t num_timesteps, const std::vector<int64_t>& section_counts) {
  PROMOE_CHECK(!section_counts.empty(), "space_timesteps: no section counts");
  const int64_t n = int64_t(section_counts.size());
  const int64_t size_per = num_timesteps / n, extra = num_timesteps % n;
  int64_t start_idx = 0;
  std::set<int64_t> all;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t size = size_per + (i < extra ? 1 : 0);
    const int64_t count = section_counts[size_t(i)];
    PROMOE_CHECK(count >= 0 && size >= count, "space_timesteps: cannot divide section of ", size, " steps into ",
                 count);
    const double frac_stride = count <= 1 ? 1.0 : double(size - 1) / double(count - 1);
    double cur = 0.0;
    for (int64_t k = 0; k < count; ++k) {
      all.insert(start_idx + round_half_even(cur));
      cur += frac_stride;
    }
    start_idx += size;
  }
  return {all.begin(), all.end()};
}

std::vector<int64_t> space_timesteps(int64_t num_timesteps, const std::string& section_counts) {
  if (section_counts.rfind("ddim", 0) == 0) {
    const int64_t desired = std::stoll(section_counts.substr(4));
    for (int64_t stride = 1; stride < num_timesteps; ++stride) {
      if ((num_timesteps + stride - 1) / stride == desired) {
        std::vector<int64_t> steps;
        for (int64_t s = 0; s < num_timesteps; s += stride) steps.push_back(s);
        return steps;
      }
    }
    PROMOE_FAIL("space_timesteps: cannot create exactly ", desired, " steps out of ", num_timesteps,
                " with an integer stride");
  }
  std::vector<int64_t> counts;
  size_t pos = 0;
  while (pos <= section_counts.size()) {
    size_t comma = section_counts.find(',', pos);
    if (comma == std::string::npos) comma = section_counts.size();
    const std::string part = section_counts.substr(pos, comma - pos);
    PROMOE_CHECK(!part.empty(), "space_timesteps: bad section counts '", section_counts, "'");
    counts.push_back(std::stoll(part));
    pos = comma + 1;
  }
  return space_timesteps(num_timesteps, counts);
}

GaussianDiffusion::GaussianDiffusion(std::vector<double> b, std::vector<int64_t> map) : betas(std::move(b)) {
  num_timesteps = int64_t(betas.size());
  PROMOE_CHECK(num_timesteps >= 1, "GaussianDiffusion: empty beta schedule");
  for (double v : betas) PROMOE_CHECK(v > 0 && v <= 1, "GaussianDiffusion: beta ", v, " outside (0, 1]");
  if (map.empty())
    for (int64_t i = 0; i < num_timesteps; ++i) map.push_back(i);
  PROMOE_CHECK(int64_t(map.size()) == num_timesteps, "GaussianDiffusion: timestep_map has ", map.size(),
               " entries for ", num_timesteps, " steps");
  timestep_map = std::move(map);

  const size_t T = betas.size();
  auto arr = [&] { return std::vector<double>(T); };
  std::vector<double> alphas = arr();
  alphas_cumprod = arr(), alphas_cumprod_prev = arr(), alphas_cumprod_next = arr(), log_betas = arr();
  sqrt_alphas_cumprod = arr(), sqrt_one_minus_alphas_cumprod = arr(), log_one_minus_alphas_cumprod = arr();
  sqrt_recip_alphas_cumprod = arr(), sqrt_recipm1_alphas_cumprod = arr();
  posterior_variance = arr(), posterior_log_variance_clipped = arr();
  posterior_mean_coef1 = arr(), posterior_mean_coef2 = arr();
  fixed_large_variance = arr(), log_fixed_large_variance = arr();

  for (size_t i = 0; i < T; ++i) {
    alphas[i] = 1.0 - betas[i];
    alphas_cumprod[i] = i == 0 ? alphas[0] : alphas_cumprod[i - 1] * alphas[i];
    log_betas[i] = std::log(betas[i]);
  }
  for (size_t i = 0; i < T; ++i) {
    const double ac = alphas_cumprod[i];
    alphas_cumprod_prev[i] = i == 0 ? 1.0 : alphas_cumprod[i - 1];
    alphas_cumprod_next[i] = i + 1 < T ? alphas_cumprod[i + 1] : 0.0;
    const double acp = alphas_cumprod_prev[i];
    sqrt_alphas_cumprod[i] = std::sqrt(ac);
    sqrt_one_minus_alphas_cumprod[i] = std::sqrt(1.0 - ac);
    log_one_minus_alphas_cumprod[i] = std::log(1.0 - ac);
    sqrt_recip_alphas_cumprod[i] = std::sqrt(1.0 / ac);
    sqrt_recipm1_alphas_cumprod[i] = std::sqrt(1.0 / ac - 1.0);
    posterior_variance[i] = betas[i] * (1.0 - acp) / (1.0 - ac);
    posterior_mean_coef1[i] = betas[i] * std::sqrt(acp) / (1.0 - ac);
    posterior_mean_coef2[i] = (1.0 - acp) * std::sqrt(alphas[i]) / (1.0 - ac);
  }
  for (size_t i = 0; i < T; ++i) {
    if (T > 1) {
      posterior_log_variance_clipped[i] = std::log(i == 0 ? posterior_variance[1] : posterior_variance[i]);
      fixed_large_variance[i] = i == 0 ? posterior_variance[1] : betas[i];
    } else {
      posterior_log_variance_clipped[i] = log_betas[i];
      fixed_large_variance[i] = betas[i];
    }
    log_fixed_large_variance[i] = std::log(fixed_large_variance[i]);
  }
}

GaussianDiffusion GaussianDiffusion::spaced(const std::vector<double>& base_betas, std::vector<int64_t> use_timesteps) {
  GaussianDiffusion base(base_betas);
  std::set<int64_t> use(use_timesteps.begin(), use_timesteps.end());
  PROMOE_CHECK(!use.empty(), "GaussianDiffusion::spaced: no timesteps to use");
  PROMOE_CHECK(*use.begin() >= 0 && *use.rbegin() < base.num_timesteps, "GaussianDiffusion::spaced: timesteps ",
               "must lie in [0, ", base.num_timesteps, ")");
  double last = 1.0;
  std::vector<double> new_betas;
  std::vector<int64_t> map;
  for (int64_t i = 0; i < base.num_timesteps; ++i) {
    if (!use.count(i)) continue;
    const double ac = base.alphas_cumprod[size_t(i)];
    new_betas.push_back(1.0 - ac / last);
    last = ac;
    map.push_back(i);
  }
  return GaussianDiffusion(std::move(new_betas), std::move(map));
}

GaussianDiffusion GaussianDiffusion::create(const std::string& timestep_respacing, int64_t diffusion_steps) {
  std::vector<double> betas = linear_beta_schedule(diffusion_steps);
  const std::string spacing = timestep_respacing.empty() ? std::to_string(diffusion_steps) : timestep_respacing;
  return spaced(betas, space_timesteps(diffusion_steps, spacing));
}

// ---------------------------------------------------------------------------------------------
// Per-sample coefficients

std::vector<int64_t> GaussianDiffusion::timesteps_of(const Tensor& t) const {
  PROMOE_CHECK(t.dim() == 1, "GaussianDiffusion: t must be (B), got ", describe(t));
  std::vector<int64_t> out;
  out.reserve(size_t(t.numel()));
  if (t.dtype() == DType::I64) {
    out = t.to_vector<int64_t>();
  } else {
    for (double v : t.to_vector<double>()) {
      PROMOE_CHECK(v == std::floor(v), "GaussianDiffusion: timestep ", v, " is not an integer");
      out.push_back(int64_t(v));
    }
  }
  for (int64_t v : out)
    PROMOE_CHECK(v >= 0 && v < num_timesteps, "GaussianDiffusion: timestep ", v, " outside [0, ", num_timesteps, ")");
  return out;
}

Tensor GaussianDiffusion::extract(const std::vector<double>& arr, const Tensor& t, const Tensor& like) const {
  const std::vector<int64_t> ts = timesteps_of(t);
  PROMOE_CHECK(like.dim() >= 1 && like.size(0) == int64_t(ts.size()), "GaussianDiffusion: ", ts.size(),
               " timesteps for a batch ", describe(like));
  std::vector<double> vals(ts.size());
  for (size_t b = 0; b < ts.size(); ++b) vals[b] = arr[size_t(ts[b])];
  Shape s(static_cast<size_t>(like.dim()), 1);
  s[0] = int64_t(ts.size());
  return raw::to(raw::from_vector<double>(vals, s), like.dtype(), like.device());
}

Tensor GaussianDiffusion::model_timesteps(const Tensor& t, DType dtype) const {
  const std::vector<int64_t> ts = timesteps_of(t);
  std::vector<double> vals(ts.size());
  for (size_t b = 0; b < ts.size(); ++b) vals[b] = double(timestep_map[size_t(ts[b])]);
  return raw::to(raw::from_vector<double>(vals, {int64_t(ts.size())}), dtype, t.device());
}

// ---------------------------------------------------------------------------------------------
// Forward process, posterior and the model's reverse step

Tensor GaussianDiffusion::q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
  PROMOE_CHECK(x0.shape() == noise.shape(), "q_sample: x0 ", describe(x0), " and noise ", describe(noise),
               " differ in shape");
  return extract(sqrt_alphas_cumprod, t, x0) * x0 + extract(sqrt_one_minus_alphas_cumprod, t, x0) * noise;
}

PosteriorMeanVariance GaussianDiffusion::q_posterior_mean_variance(const Tensor& x0, const Tensor& x_t,
                                                                   const Tensor& t) const {
  PROMOE_CHECK(x0.shape() == x_t.shape(), "q_posterior_mean_variance: shapes differ, ", describe(x0), " vs ",
               describe(x_t));
  PosteriorMeanVariance r;
  r.mean = extract(posterior_mean_coef1, t, x_t) * x0 + extract(posterior_mean_coef2, t, x_t) * x_t;
  r.variance = extract(posterior_variance, t, x_t);
  r.log_variance_clipped = extract(posterior_log_variance_clipped, t, x_t);
  return r;
}

Tensor GaussianDiffusion::predict_xstart_from_eps(const Tensor& x_t, const Tensor& t, const Tensor& eps) const {
  return extract(sqrt_recip_alphas_cumprod, t, x_t) * x_t - extract(sqrt_recipm1_alphas_cumprod, t, x_t) * eps;
}

Tensor GaussianDiffusion::predict_eps_from_xstart(const Tensor& x_t, const Tensor& t, const Tensor& pred_xstart) const {
  return (extract(sqrt_recip_alphas_cumprod, t, x_t) * x_t - pred_xstart) /
         extract(sqrt_recipm1_alphas_cumprod, t, x_t);
}

PMeanVariance GaussianDiffusion::p_mean_variance(const Tensor& model_out, const Tensor& x_t, const Tensor& t,
                                                 bool clip_denoised) const {
  const int64_t C = x_t.size(1);
  PROMOE_CHECK(model_out.dim() == x_t.dim() && model_out.size(0) == x_t.size(0) &&
                   (model_out.size(1) == C || model_out.size(1) == 2 * C),
               "p_mean_variance: model output ", describe(model_out), " does not fit x_t ", describe(x_t),
               " (expected C or 2C channels)");
  PMeanVariance r;
  Tensor eps = narrow(model_out, 1, 0, C);
  if (model_out.size(1) == 2 * C) {
    Tensor v = narrow(model_out, 1, C, C);
    Tensor min_log = extract(posterior_log_variance_clipped, t, x_t);
    Tensor max_log = extract(log_betas, t, x_t);
    Tensor frac = (v + 1.0) / 2.0;  // v in [-1, 1] spans [min_var, max_var]
    r.log_variance = frac * max_log + (-frac + 1.0) * min_log;
    r.variance = exp(r.log_variance);
  } else {
    Tensor var = extract(fixed_large_variance, t, x_t);
    r.variance = expand(var, x_t.shape());
    r.log_variance = expand(extract(log_fixed_large_variance, t, x_t), x_t.shape());
  }
  r.pred_xstart = predict_xstart_from_eps(x_t, t, eps);
  if (clip_denoised) r.pred_xstart = clamp(r.pred_xstart, -1.0, 1.0);
  r.mean = q_posterior_mean_variance(r.pred_xstart, x_t, t).mean;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Likelihood helpers (diffusion_utils.py)

Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2) {
  Tensor s = ((((logvar2 + -1.0) - logvar1) + exp(logvar1 - logvar2)) + square(mean1 - mean2) * exp(-logvar2));
  return s * 0.5;
}

Tensor approx_standard_normal_cdf(const Tensor& x) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return (tanh((x + pow(x, 3.0) * 0.044715) * k) + 1.0) * 0.5;
}

Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales) {
  PROMOE_CHECK(x.shape() == means.shape() && x.shape() == log_scales.shape(),
               "discretized_gaussian_log_likelihood: shapes differ, ", describe(x), ", ", describe(means), ", ",
               describe(log_scales));
  const double inf = std::numeric_limits<double>::infinity();
  Tensor centered = x - means;
  Tensor inv_stdv = exp(-log_scales);
  Tensor cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0));
  Tensor cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0));
  Tensor log_cdf_plus = log(clamp(cdf_plus, 1e-12, inf));
  Tensor log_one_minus_cdf_min = log(clamp(-cdf_min + 1.0, 1e-12, inf));
  Tensor log_cdf_delta = log(clamp(cdf_plus - cdf_min, 1e-12, inf));
  Tensor xd = x.detach();
  Tensor low = lt(xd, scalar_like(-0.999, xd)), high = gt(xd, scalar_like(0.999, xd));
  return where(low, log_cdf_plus, where(high, log_one_minus_cdf_min, log_cdf_delta));
}

// ---------------------------------------------------------------------------------------------
// Losses

Tensor GaussianDiffusion::vb_terms_bpd(const Tensor& model_out, const Tensor& x0, const Tensor& x_t,
                                       const Tensor& t) const {
  const double ln2 = std::log(2.0);
  PosteriorMeanVariance q = q_posterior_mean_variance(x0, x_t, t);
  PMeanVariance p = p_mean_variance(model_out, x_t, t, /*clip_denoised=*/false);
  Tensor kl = mean_flat(normal_kl(q.mean, q.log_variance_clipped, p.mean, p.log_variance)) / ln2;
  Tensor nll = mean_flat(-discretized_gaussian_log_likelihood(x0, p.mean, p.log_variance * 0.5)) / ln2;
  const std::vector<int64_t> ts = timesteps_of(t);
  std::vector<double> first(ts.size());
  for (size_t b = 0; b < ts.size(); ++b) first[b] = ts[b] == 0 ? 1.0 : 0.0;
  Tensor is_first = raw::to(raw::from_vector<double>(first, {int64_t(ts.size())}), x0.dtype(), x0.device());
  return where(is_first, nll, kl);
}

DDPMLoss GaussianDiffusion::losses_from_output(const Tensor& model_out, const Tensor& x0, const Tensor& x_t,
                                               const Tensor& t, const Tensor& noise) const {
  const int64_t C = x0.size(1);
  PROMOE_CHECK(x0.shape() == x_t.shape() && x0.shape() == noise.shape(), "DDPM loss: x0 ", describe(x0), ", x_t ",
               describe(x_t), " and noise ", describe(noise), " must share a shape");
  PROMOE_CHECK(model_out.dim() == x0.dim() && model_out.size(0) == x0.size(0) &&
                   (model_out.size(1) == C || model_out.size(1) == 2 * C),
               "DDPM loss: model output ", describe(model_out), " does not fit x0 ", describe(x0));
  DDPMLoss r;
  r.model_out = model_out;
  r.x_t = x_t;
  r.noise = noise;
  r.t = raw::from_vector<int64_t>(timesteps_of(t), {x0.size(0)}, x0.device());
  Tensor eps = narrow(model_out, 1, 0, C);
  Tensor mse_b = mean_flat(square(noise - eps));
  if (model_out.size(1) == 2 * C) {
    // The VLB trains the variance only: the mean prediction enters it detached.
    Tensor frozen = cat({eps.detach(), narrow(model_out, 1, C, C)}, 1);
    Tensor vb_b = vb_terms_bpd(frozen, x0, x_t, r.t);
    r.loss = mean(mse_b + vb_b);
    r.mse = mean(mse_b);
    r.vlb = mean(vb_b);
  } else {
    r.loss = mean(mse_b);
    r.mse = r.loss;
  }
  return r;
}

DDPMLoss GaussianDiffusion::training_losses(const DenoiserFn& model, const Tensor& x0, const Tensor& y, const Tensor& t,
                                            const Tensor& noise) const {
  Tensor x_t = q_sample(x0, t, noise);
  Tensor out = model(x_t, model_timesteps(t, x0.dtype()), y);
  return losses_from_output(out, x0, x_t, t, noise);
}

DDPMLoss GaussianDiffusion::training_losses(const DenoiserFn& model, const Tensor& x0, const Tensor& y,
                                            Generator& gen) const {
  Tensor t = gen.randint({x0.size(0)}, 0, num_timesteps, x0.device());
  Tensor noise = gen.randn(x0.shape(), x0.dtype(), x0.device());
  return training_losses(model, x0, y, t, noise);
}

}  // namespace promoe::diffusion
