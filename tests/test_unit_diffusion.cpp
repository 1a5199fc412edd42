// Diffusion objectives (diffusion/) against hand computations: schedule arrays, respacing, and the
// RF and DDPM losses (re-implemented here in plain double loops).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "diffusion/gaussian_diffusion.h"
#include "diffusion/rectified_flow.h"
#include "diffusion/samplers.h"
#include "diffusion_test_util.h"

using namespace promoe;
using namespace promoe::diffusion;
using namespace promoe::diffusion_test;

// -----------------------------------------------------------------------------------------------
// Schedules and respacing

TEST_CASE("diffusion: linear betas and DDPM schedule arrays match hand-computed values") {
  std::vector<double> b = linear_beta_schedule(1000);
  REQUIRE(b.size() == 1000);
  CHECK(b[0] == 1e-4);
  CHECK(b[999] == 0.02);
  CHECK(rel_close(b[1], 1e-4 + (0.02 - 1e-4) / 999.0) < 1e-14);

  GaussianDiffusion d = GaussianDiffusion::create("");
  REQUIRE(d.num_timesteps == 1000);
  for (int64_t i : {0, 1, 500, 999}) CHECK(d.timestep_map[size_t(i)] == i);
  const std::vector<double> ac = reference_alphas_cumprod();
  CHECK(rel_close(d.alphas_cumprod[0], 0.9999) < 1e-14);
  CHECK(rel_close(d.alphas_cumprod[500], ac[500]) < 1e-12);
  CHECK(rel_close(d.alphas_cumprod[999], ac[999]) < 1e-12);
  CHECK(rel_close(d.alphas_cumprod[999], 4.035829765375676e-05) < 1e-10);  // NumPy
  CHECK(rel_close(d.alphas_cumprod[500], 0.07779665836502389) < 1e-10);    // NumPy
  CHECK(d.alphas_cumprod_prev[0] == 1.0);
  CHECK(d.alphas_cumprod_next[999] == 0.0);

  const double b1 = 1e-4 + (0.02 - 1e-4) / 999.0;
  const double pv1 = b1 * (1.0 - ac[0]) / (1.0 - ac[1]);
  CHECK(d.posterior_variance[0] == 0.0);
  CHECK(rel_close(d.posterior_variance[1], pv1) < 1e-10);
  CHECK(rel_close(d.posterior_variance[1], 5.4531876613021935e-05) < 1e-10);  // NumPy
  CHECK(rel_close(d.posterior_log_variance_clipped[0], std::log(pv1)) < 1e-10);
  CHECK(rel_close(d.posterior_log_variance_clipped[1], std::log(pv1)) < 1e-10);
  CHECK(rel_close(d.posterior_mean_coef1[0], 1.0) < 1e-10);
  CHECK(std::abs(d.posterior_mean_coef2[0]) < 1e-15);
  const double b500 = 1e-4 + (0.02 - 1e-4) * 500.0 / 999.0;
  CHECK(rel_close(d.posterior_mean_coef1[500], b500 * std::sqrt(ac[499]) / (1.0 - ac[500])) < 1e-10);
  CHECK(rel_close(d.posterior_mean_coef2[500], (1.0 - ac[499]) * std::sqrt(1.0 - b500) / (1.0 - ac[500])) < 1e-10);
  CHECK(rel_close(d.sqrt_recipm1_alphas_cumprod[999], std::sqrt(1.0 / ac[999] - 1.0)) < 1e-10);
  CHECK(rel_close(d.log_betas[999], std::log(0.02)) < 1e-10);
}

TEST_CASE("diffusion: space_timesteps follows ADM, including Python's round-half-to-even") {
  std::vector<int64_t> s = space_timesteps(1000, std::vector<int64_t>{250});
  REQUIRE(s.size() == 250);
  CHECK(s[0] == 0);
  CHECK(s[1] == 4);
  CHECK(s[62] == 249);
  CHECK(s[100] == 401);
  CHECK(s[124] == 497);
  CHECK(s[125] == 502);
  CHECK(s[200] == 802);
  CHECK(s[248] == 995);
  CHECK(s[249] == 999);
  int64_t total = 0;
  for (int64_t v : s) total += v;
  CHECK(total == 124875);  // Python: sum(space_timesteps(1000, [250]))
  CHECK(space_timesteps(1000, "8") == std::vector<int64_t>{0, 143, 285, 428, 571, 714, 856, 999});
  CHECK(space_timesteps(6, "3") == std::vector<int64_t>{0, 2, 5});    // round(2.5) = 2
  CHECK(space_timesteps(12, "3") == std::vector<int64_t>{0, 6, 11});  // round(5.5) = 6
  CHECK(space_timesteps(1000, "10,15") == std::vector<int64_t>{0,   55,  111, 166, 222, 277, 333, 388, 444,
                                                               499, 500, 536, 571, 607, 643, 678, 714, 750,
                                                               785, 821, 856, 892, 928, 963, 999});
  std::vector<int64_t> ddim = space_timesteps(1000, "ddim25");
  REQUIRE(ddim.size() == 25);
  for (size_t i = 0; i < ddim.size(); ++i) CHECK(ddim[i] == int64_t(i) * 40);
  CHECK_THROWS_AS(space_timesteps(10, "11"), Error);
}

TEST_CASE("diffusion: a respaced process keeps the base alphas_cumprod at the kept steps") {
  GaussianDiffusion base = GaussianDiffusion::create("");
  GaussianDiffusion sp = GaussianDiffusion::create("250");
  REQUIRE(sp.num_timesteps == 250);
  CHECK(sp.timestep_map == space_timesteps(1000, std::vector<int64_t>{250}));
  for (int64_t k = 0; k < 250; ++k) {
    const int64_t orig = sp.timestep_map[size_t(k)];
    CHECK(rel_close(sp.alphas_cumprod[size_t(k)], base.alphas_cumprod[size_t(orig)]) < 1e-12);
  }
  // Spaced betas: 1 − ᾱ_k / ᾱ_{k−1}.
  CHECK(rel_close(sp.betas[1], 1.0 - base.alphas_cumprod[4] / base.alphas_cumprod[0]) < 1e-12);
  CHECK(rel_close(sp.betas[0], 1e-4) < 1e-10);
  // The model receives the original timestep.
  Tensor t = from_vector<int64_t>({0, 1, 249}, {3});
  CHECK(sp.model_timesteps(t).to_vector<float>() == std::vector<float>{0.f, 4.f, 999.f});
  CHECK_THROWS_AS(sp.model_timesteps(from_vector<int64_t>({250}, {1})), Error);
}

// -----------------------------------------------------------------------------------------------
// Rectified-flow loss

namespace {

// A closed-form "model": out[:, :C] = 0.7·x + 0.001·t·(c+1), out[:, C:] = x² (ignored by the loss).
Tensor toy_rf_model(const Tensor& x, const Tensor& t, const Tensor&) {
  const int64_t B = x.size(0), C = x.size(1);
  std::vector<double> cw(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) cw[size_t(c)] = double(c + 1);
  Tensor chan = to(from_vector<double>(cw, {1, C, 1, 1}), x.dtype());
  Tensor pred = x * 0.7 + reshape(t, {B, 1, 1, 1}) * chan * 0.001;
  return cat({pred, square(x)}, 1);
}

}  // namespace

TEST_CASE("diffusion: RF loss with explicit sigma and noise equals the direct formula") {
  const int64_t B = 3, C = 2, H = 3, W = 2;
  Generator g(11);
  Tensor x0 = g.randn({B, C, H, W}, DType::F64), eps = g.randn({B, C, H, W}, DType::F64);
  Tensor sigma = from_vector<double>({0.05, 0.5, 0.93}, {B});
  Tensor y = from_vector<int64_t>({1, 2, 3}, {B});
  RFLoss r = rf_training_loss(toy_rf_model, x0, y, sigma, eps);

  std::vector<double> xv = vec(x0), ev = vec(eps), sv = vec(sigma);
  double total = 0;
  const int64_t per = C * H * W;
  for (int64_t b = 0; b < B; ++b) {
    double acc = 0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < H * W; ++k) {
        const size_t i = size_t(b * per + c * H * W + k);
        const double s = sv[size_t(b)];
        const double xt = (1 - s) * xv[i] + s * ev[i];
        const double pred = 0.7 * xt + 0.001 * (1000 * s) * double(c + 1);
        const double target = ev[i] - xv[i];
        acc += (pred - target) * (pred - target);
      }
    total += acc / double(per);
  }
  total /= double(B);
  CHECK(rel_close(r.loss.item(), total) < 1e-12);
  CHECK(r.loss.dim() == 0);
  CHECK(vec(r.t) == std::vector<double>{50, 500, 930});
  CHECK(r.model_out.size(1) == 2 * C);
  // x_t = (1 − σ) x0 + σ ε.
  std::vector<double> xt = vec(r.x_t);
  CHECK(std::abs(xt[0] - (0.95 * xv[0] + 0.05 * ev[0])) < 1e-14);

  // f32 gives the same to f32 precision.
  RFLoss r32 = rf_training_loss(toy_rf_model, to(x0, DType::F32), y, to(sigma, DType::F32), to(eps, DType::F32));
  CHECK(r32.loss.dtype() == DType::F32);
  CHECK(rel_close(r32.loss.item(), total) < 1e-5);
}

TEST_CASE("diffusion: RF loss from a generator is reproducible and its sigma is logit-normal") {
  const int64_t B = 4;
  Tensor x0 = Generator(2).randn({B, 2, 2, 2});
  Tensor y = from_vector<int64_t>({0, 1, 2, 3}, {B});
  Generator g1(5), g2(5), g3(6);
  RFLoss a = rf_training_loss(toy_rf_model, x0, y, g1), b = rf_training_loss(toy_rf_model, x0, y, g2);
  RFLoss c = rf_training_loss(toy_rf_model, x0, y, g3);
  CHECK(a.loss.item() == b.loss.item());
  CHECK(vec(a.sigma) == vec(b.sigma));
  CHECK(a.loss.item() != c.loss.item());
  for (double s : vec(a.sigma)) CHECK((s > 0 && s < 1));
  // Re-evaluating with the returned σ and ε gives the same loss.
  RFLoss again = rf_training_loss(toy_rf_model, x0, y, a.sigma, a.noise);
  CHECK(again.loss.item() == a.loss.item());
  // σ = sigmoid(u), u ~ N(0, 1): logit(σ) has mean 0 and std 1.
  Generator gs(123);
  std::vector<double> s = vec(rf_sample_sigma(gs, 20000, {}, DType::F64));
  double m = 0, v = 0;
  for (double x : s) m += std::log(x / (1 - x));
  m /= double(s.size());
  for (double x : s) v += std::pow(std::log(x / (1 - x)) - m, 2);
  v = std::sqrt(v / double(s.size()));
  CHECK(std::abs(m) < 0.03);
  CHECK(std::abs(v - 1.0) < 0.03);
}

// -----------------------------------------------------------------------------------------------
// DDPM loss (MSE + VLB) against a plain re-implementation in double

namespace {

double ref_cdf(double x) {
  return 0.5 * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

struct RefDDPM {
  double mse = 0, vlb = 0, loss = 0;
};

// ADM training_losses with LEARNED_RANGE variance, written out per element from the formulas.
RefDDPM reference_ddpm(const std::vector<double>& out, const std::vector<double>& x0, const std::vector<double>& noise,
                       const std::vector<int64_t>& ts, int64_t B, int64_t C, int64_t HW) {
  std::vector<double> ac = reference_alphas_cumprod();
  RefDDPM r;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t t = ts[size_t(b)];
    const double beta = 1e-4 + (0.02 - 1e-4) * double(t) / 999.0;
    const double a = ac[size_t(t)], ap = t == 0 ? 1.0 : ac[size_t(t) - 1];
    const double pv = beta * (1 - ap) / (1 - a);
    const double beta1 = 1e-4 + (0.02 - 1e-4) / 999.0;
    const double pv1 = beta1 * (1 - ac[0]) / (1 - ac[1]);
    const double min_log = std::log(t == 0 ? pv1 : pv), max_log = std::log(beta);
    const double c1 = beta * std::sqrt(ap) / (1 - a), c2 = (1 - ap) * std::sqrt(1 - beta) / (1 - a);
    double mse = 0, term = 0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < HW; ++k) {
        const size_t i = size_t((b * C + c) * HW + k);
        const double eps_hat = out[size_t((b * 2 * C + c) * HW + k)];
        const double v = out[size_t((b * 2 * C + C + c) * HW + k)];
        const double x = x0[i], e = noise[i];
        const double xt = std::sqrt(a) * x + std::sqrt(1 - a) * e;
        mse += (e - eps_hat) * (e - eps_hat);
        const double frac = (v + 1) / 2;
        const double logvar = frac * max_log + (1 - frac) * min_log;
        const double pred_x0 = std::sqrt(1 / a) * xt - std::sqrt(1 / a - 1) * eps_hat;
        const double mean_p = c1 * pred_x0 + c2 * xt;
        const double mean_q = c1 * x + c2 * xt;
        if (t > 0) {
          term += 0.5 * (-1 + logvar - min_log + std::exp(min_log - logvar) +
                         (mean_q - mean_p) * (mean_q - mean_p) * std::exp(-logvar));
        } else {
          const double inv_std = std::exp(-0.5 * logvar), cx = x - mean_p;
          const double cp = ref_cdf(inv_std * (cx + 1.0 / 255)), cm = ref_cdf(inv_std * (cx - 1.0 / 255));
          double lp;
          if (x < -0.999)
            lp = std::log(std::max(cp, 1e-12));
          else if (x > 0.999)
            lp = std::log(std::max(1 - cm, 1e-12));
          else
            lp = std::log(std::max(cp - cm, 1e-12));
          term += -lp;
        }
      }
    const double n = double(C * HW);
    r.mse += mse / n;
    r.vlb += term / n / std::log(2.0);
  }
  r.mse /= double(B);
  r.vlb /= double(B);
  r.loss = r.mse + r.vlb;
  return r;
}

}  // namespace

TEST_CASE("diffusion: DDPM mse + vlb at t = 0 and t > 0 equal a direct re-implementation") {
  const int64_t B = 5, C = 2, H = 3, W = 3;
  Generator g(21);
  GaussianDiffusion d = GaussianDiffusion::create("");
  Tensor x0 = edge_data(g, {B, C, H, W}, DType::F64);
  Tensor noise = g.randn({B, C, H, W}, DType::F64);
  // ε̂ = ε + small error so that the t = 0 decoder likelihood is not saturated; v in (−1, 1).
  Tensor eps_hat = noise + g.randn({B, C, H, W}, DType::F64) * 0.3;
  Tensor v = tanh(g.randn({B, C, H, W}, DType::F64));
  Tensor out = cat({eps_hat, v}, 1);
  std::vector<int64_t> ts{0, 0, 1, 500, 999};
  Tensor t = from_vector<int64_t>(ts, {B});
  Tensor x_t = d.q_sample(x0, t, noise);
  DDPMLoss r = d.losses_from_output(out, x0, x_t, t, noise);
  RefDDPM ref = reference_ddpm(vec(out), vec(x0), vec(noise), ts, B, C, H * W);
  CHECK(rel_close(r.mse.item(), ref.mse) < 1e-10);
  CHECK(rel_close(r.vlb.item(), ref.vlb) < 1e-9);
  CHECK(rel_close(r.loss.item(), ref.loss) < 1e-9);

  // Each half alone (t = 0 only: decoder NLL; t > 0 only: KL).
  for (int which = 0; which < 2; ++which) {
    std::vector<int64_t> idx = which == 0 ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{2, 3, 4};
    Tensor sel = from_vector<int64_t>(idx, {int64_t(idx.size())});
    std::vector<int64_t> tsel;
    for (int64_t i : idx) tsel.push_back(ts[size_t(i)]);
    Tensor o = index_select(out, 0, sel), x = index_select(x0, 0, sel), n = index_select(noise, 0, sel);
    Tensor tt = from_vector<int64_t>(tsel, {int64_t(tsel.size())});
    DDPMLoss rs = d.losses_from_output(o, x, d.q_sample(x, tt, n), tt, n);
    RefDDPM rr = reference_ddpm(vec(o), vec(x), vec(n), tsel, int64_t(idx.size()), C, H * W);
    CHECK(rel_close(rs.vlb.item(), rr.vlb) < 1e-9);
    CHECK(rr.vlb > 0);
  }

  // Float timesteps with exact values are accepted; f32 matches to f32 precision.
  DDPMLoss rf = d.losses_from_output(out, x0, x_t, to(t, DType::F32), noise);
  CHECK(rf.vlb.item() == r.vlb.item());
  DDPMLoss r32 =
      d.losses_from_output(to(out, DType::F32), to(x0, DType::F32), to(x_t, DType::F32), t, to(noise, DType::F32));
  CHECK(rel_close(r32.vlb.item(), ref.vlb) < 1e-4);
  CHECK(rel_close(r32.mse.item(), ref.mse) < 1e-5);
  CHECK_THROWS_AS(d.losses_from_output(out, x0, x_t, from_vector<double>({0.5, 0, 1, 2, 3}, {B}), noise), Error);
}

TEST_CASE("diffusion: DDPM training_losses feeds q_sample and the model timestep to the model") {
  const int64_t B = 3, C = 2;
  GaussianDiffusion d = GaussianDiffusion::create("");
  Generator g(4);
  Tensor x0 = edge_data(g, {B, C, 2, 2}, DType::F64), noise = g.randn({B, C, 2, 2}, DType::F64);
  Tensor t = from_vector<int64_t>({0, 10, 999}, {B});
  Tensor seen_x, seen_t;
  DenoiserFn model = [&](const Tensor& x, const Tensor& tt, const Tensor&) {
    seen_x = x;
    seen_t = tt;
    return cat({x * 0.5, x * 0.1}, 1);
  };
  DDPMLoss r = d.training_losses(model, x0, from_vector<int64_t>({1, 2, 3}, {B}), t, noise);
  CHECK(max_abs_diff(seen_x, d.q_sample(x0, t, noise)) == 0.0);
  CHECK(vec(seen_t) == std::vector<double>{0, 10, 999});
  CHECK(seen_t.dtype() == DType::F64);
  DDPMLoss again = d.losses_from_output(r.model_out, x0, r.x_t, t, noise);
  CHECK(again.loss.item() == r.loss.item());
  // Generator form: reproducible.
  Generator g1(9), g2(9);
  DDPMLoss a = d.training_losses(model, x0, from_vector<int64_t>({1, 2, 3}, {B}), g1);
  DDPMLoss b = d.training_losses(model, x0, from_vector<int64_t>({1, 2, 3}, {B}), g2);
  CHECK(a.loss.item() == b.loss.item());
  CHECK(a.t.to_vector<int64_t>() == b.t.to_vector<int64_t>());
  for (int64_t v : a.t.to_vector<int64_t>()) CHECK((v >= 0 && v < 1000));
}

TEST_CASE("diffusion: the VLB trains only the variance channels (mean prediction detached)") {
  const int64_t B = 3, C = 2;
  GaussianDiffusion d = GaussianDiffusion::create("");
  Generator g(8);
  Tensor x0 = edge_data(g, {B, C, 2, 2}, DType::F64), noise = g.randn({B, C, 2, 2}, DType::F64);
  Tensor out = cat({noise + g.randn({B, C, 2, 2}, DType::F64) * 0.2, tanh(g.randn({B, C, 2, 2}, DType::F64))}, 1);
  out.set_requires_grad(true);
  Tensor t = from_vector<int64_t>({0, 7, 300}, {B});
  DDPMLoss r = d.losses_from_output(out, x0, d.q_sample(x0, t, noise), t, noise);
  r.vlb.backward();
  std::vector<double> gv = vec(out.grad());
  const size_t per = size_t(2 * C * 4);
  double eps_grad = 0, var_grad = 0;
  for (size_t i = 0; i < gv.size(); ++i) ((i % per) < size_t(C * 4) ? eps_grad : var_grad) += std::abs(gv[i]);
  CHECK(eps_grad == 0.0);
  CHECK(var_grad > 0.0);
}

TEST_CASE("diffusion: a model without learned sigma gets FIXED_LARGE variance and no VLB") {
  GaussianDiffusion d = GaussianDiffusion::create("");
  Generator g(3);
  Tensor x0 = g.randn({2, 2, 2, 2}, DType::F64), noise = g.randn({2, 2, 2, 2}, DType::F64);
  Tensor t = from_vector<int64_t>({0, 5}, {2});
  DDPMLoss r = d.losses_from_output(noise * 0.5, x0, d.q_sample(x0, t, noise), t, noise);
  CHECK(!r.vlb.defined());
  CHECK(rel_close(r.loss.item(), 0.25 * mean(square(noise)).item()) < 1e-12);
  PMeanVariance p = d.p_mean_variance(noise, x0, t);
  CHECK(rel_close(vec(p.variance)[0], d.posterior_variance[1]) < 1e-12);
  CHECK(rel_close(vec(p.variance)[15], d.betas[5]) < 1e-12);
}

// -----------------------------------------------------------------------------------------------
// Samplers
