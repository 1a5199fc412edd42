// Diffusion samplers with toy denoisers: samplers that must land on a known point or distribution,
// guidance call patterns, determinism.
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

TEST_CASE("diffusion: RF Euler with the exact velocity of a single point lands on it") {
  const int64_t B = 2, C = 3, H = 2, W = 2;
  Tensor target = Generator(1).randn({B, C, H, W});
  std::vector<double> times;
  std::vector<int64_t> progress;
  DenoiserFn model = [&](const Tensor& x, const Tensor& t, const Tensor&) {
    times.push_back(first_time(t));
    CHECK(!grad_enabled());
    Tensor sigma = reshape(t, {B, 1, 1, 1}) / 1000.0;
    Tensor v = (x - target) / sigma;    // ε − x* for x = (1 − σ) x* + σ ε
    return cat({v, x * 0.0 + 7.0}, 1);  // junk variance channels, ignored
  };
  Tensor y = from_vector<int64_t>({3, 4}, {B});
  RFSampleOptions opt;
  opt.progress = [&](int64_t step, int64_t total) {
    CHECK(total == 250);
    progress.push_back(step);
  };
  Tensor out = rf_euler_sample(model, Generator(2).randn({B, C, H, W}), y, opt);
  CHECK(max_abs_diff(out, target) < 1e-4);
  REQUIRE(times.size() == 250);
  CHECK(times[0] == 1000.0);
  CHECK(times[1] == 996.0);
  CHECK(times[249] == 4.0);
  for (size_t i = 1; i < times.size(); ++i) CHECK(times[i] < times[i - 1]);
  REQUIRE(progress.size() == 250);
  CHECK(progress.front() == 0);
  CHECK(progress.back() == 249);
  CHECK(!out.requires_grad());

  // Any step count works.
  times.clear();
  opt.steps = 7;
  opt.progress = nullptr;
  Tensor out7 = rf_euler_sample(model, Generator(3).randn({B, C, H, W}), y, opt);
  CHECK(max_abs_diff(out7, target) < 1e-4);
  REQUIRE(times.size() == 7);
  CHECK(std::abs(times[6] - 1000.0 / 7.0) < 1e-3);
  std::vector<float> s = rf_sampling_sigmas(250);
  REQUIRE(s.size() == 251);
  CHECK(s[0] == 1.0f);
  CHECK(s[250] == 0.0f);
  CHECK(s[125] == 0.5f);
}

TEST_CASE("diffusion: RF Euler with the exact velocity of a Gaussian reproduces its mean and std") {
  const double mu = 0.5, sd = 0.3;
  DenoiserFn model = [&](const Tensor& x, const Tensor& t, const Tensor&) {
    const double s = first_time(t) / 1000.0, a = 1.0 - s, var = a * a * sd * sd + s * s;
    Tensor r = x - a * mu;
    return (r * (s / var)) - ((r * (a * sd * sd / var)) + mu);  // E[ε | x] − E[x0 | x]
  };
  Generator g(17);
  RFSampleOptions opt;
  opt.steps = 100;
  Tensor out =
      rf_euler_sample(model, Shape{16, 1, 16, 16}, from_vector<int64_t>(std::vector<int64_t>(16, 0), {16}), g, opt);
  Stats st = stats(out);
  CHECK(std::abs(st.mean - mu) < 0.03);
  CHECK(std::abs(st.std - sd) < 0.02);
}

namespace {

// ε̂ of the forward process for data concentrated at `target`, evaluated at the model's (original)
// timestep: exact, so pred_xstart = target at every step. Records every call.
struct DeltaEpsModel {
  Tensor target;
  std::vector<double> ac = reference_alphas_cumprod();
  std::vector<double> times;
  std::vector<int64_t> batches;
  Tensor operator()(const Tensor& x, const Tensor& t, const Tensor&) {
    const double tt = first_time(t);
    times.push_back(tt);
    batches.push_back(x.size(0));
    const double a = ac[size_t(tt)];
    Tensor eps = (x - target * std::sqrt(a)) / std::sqrt(1.0 - a);
    return cat({eps, x * 0.0}, 1);  // v = 0: the middle of the learned range
  }
};

}  // namespace

TEST_CASE("diffusion: DDPM ancestral and DDIM with an exact eps-model of a point land on it") {
  const int64_t B = 2, C = 4, H = 2, W = 2;
  Tensor target = Generator(5).randn({B, C, H, W}) * 0.5;
  Tensor y = from_vector<int64_t>({0, 1}, {B});
  auto model = std::make_shared<DeltaEpsModel>();
  model->target = target;
  DenoiserFn fn = [model](const Tensor& x, const Tensor& t, const Tensor& yy) { return (*model)(x, t, yy); };

  Generator g(10);
  Tensor out = ddpm_sample(fn, Shape{B, C, H, W}, y, g);
  CHECK(max_abs_diff(out, target) < 1e-4);
  // The model received the original timesteps, from 999 down to 0.
  std::vector<int64_t> kept = space_timesteps(1000, std::vector<int64_t>{250});
  REQUIRE(model->times.size() == 250);
  for (size_t i = 0; i < 250; ++i) CHECK(model->times[i] == double(kept[249 - i]));
  CHECK(model->times.front() == 999.0);
  CHECK(model->times[1] == 995.0);
  CHECK(model->times.back() == 0.0);

  for (double eta : {0.0, 1.0}) {
    model->times.clear();
    DDPMSampleOptions opt;
    opt.eta = eta;
    opt.steps = 50;
    Tensor o = ddim_sample(fn, Shape{B, C, H, W}, y, g, opt);
    CHECK(max_abs_diff(o, target) < 1e-4);
    CHECK(model->times.size() == 50);
  }
}

TEST_CASE("diffusion: DDPM and DDIM with the exact eps of a Gaussian reproduce its mean and std") {
  const double mu = -0.4, sd = 0.5;
  std::vector<double> ac = reference_alphas_cumprod();
  DenoiserFn model = [&](const Tensor& x, const Tensor& t, const Tensor&) {
    const double a = ac[size_t(first_time(t))];
    Tensor eps = (x - std::sqrt(a) * mu) * (std::sqrt(1.0 - a) / (a * sd * sd + 1.0 - a));  // E[ε | x_t]
    return cat({eps, x * 0.0}, 1);
  };
  Tensor y = from_vector<int64_t>(std::vector<int64_t>(8, 0), {8});
  Generator g(31);
  Stats a = stats(ddpm_sample(model, Shape{8, 1, 16, 16}, y, g));
  CHECK(std::abs(a.mean - mu) < 0.05);
  CHECK(std::abs(a.std - sd) < 0.05);
  DDPMSampleOptions opt;
  opt.steps = 100;
  Stats b = stats(ddim_sample(model, Shape{8, 1, 16, 16}, y, g, opt));
  CHECK(std::abs(b.mean - mu) < 0.05);
  CHECK(std::abs(b.std - sd) < 0.05);
}

TEST_CASE("diffusion: guidance wrappers combine the right channels") {
  const int64_t B = 2, C = 4;
  // Conditional output: label value everywhere; unconditional (label 1000): −1 on even channels, 2 on odd.
  DenoiserFn model = [&](const Tensor& x, const Tensor&, const Tensor& y) {
    std::vector<int64_t> labels = y.to_vector<int64_t>();
    const int64_t n = x.size(0), ch = 2 * C;
    std::vector<float> v(static_cast<size_t>(n * ch));
    for (int64_t b = 0; b < n; ++b)
      for (int64_t c = 0; c < ch; ++c)
        v[size_t(b * ch + c)] = labels[size_t(b)] == 1000 ? (c % 2 ? 2.f : -1.f) : float(labels[size_t(b)]);
    return from_vector<float>(v, {n, ch, 1, 1});
  };
  Tensor x = zeros({B, C, 1, 1}), t = full({B}, 5.0), y = from_vector<int64_t>({3, 7}, {B});
  const double s = 1.5;
  // RF: all channels guided.
  std::vector<float> rf = rf_guided(model, s, 1000)(x, t, y).to_vector<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < 2 * C; ++c) {
      const double cond = b == 0 ? 3 : 7, unc = c % 2 ? 2 : -1;
      CHECK(rf[size_t(b * 2 * C + c)] == doctest::Approx(unc + s * (cond - unc)));
    }
  // DiT: channels 0..2 guided, 3..7 from the conditional half.
  Tensor dit_out = dit_guided(model, s, 1000)(x, t, y);
  CHECK(dit_out.shape() == Shape{B, 2 * C, 1, 1});
  std::vector<float> dit = dit_out.to_vector<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < 2 * C; ++c) {
      const double cond = b == 0 ? 3 : 7, unc = c % 2 ? 2 : -1;
      CHECK(dit[size_t(b * 2 * C + c)] == doctest::Approx(c < 3 ? unc + s * (cond - unc) : cond));
    }
  // All four ε channels when asked.
  std::vector<float> dit4 = dit_guided(model, s, 1000, 4)(x, t, y).to_vector<float>();
  CHECK(dit4[3] == doctest::Approx(2 + s * (3 - 2)));
  CHECK(dit4[4] == doctest::Approx(3));
  // s = 1: the model itself.
  CHECK(rf_guided(model, 1.0, 1000)(x, t, y).to_vector<float>()[1] == 3.f);
}

TEST_CASE("diffusion: CFG runs one conditional pass per step at s = 1 and adds the null pass at s > 1") {
  const int64_t B = 2;
  std::vector<std::vector<int64_t>> labels;
  DenoiserFn model = [&](const Tensor& x, const Tensor& t, const Tensor& y) {
    labels.push_back(y.to_vector<int64_t>());
    CHECK(t.size(0) == x.size(0));
    return cat({x * 0.1, x * 0.0}, 1);
  };
  Tensor y = from_vector<int64_t>({5, 6}, {B});
  Generator g(1);
  RFSampleOptions ro;
  ro.steps = 10;
  rf_euler_sample(model, Shape{B, 2, 2, 2}, y, g, ro);
  CHECK(labels.size() == 10);
  for (auto& l : labels) CHECK(l == std::vector<int64_t>{5, 6});
  labels.clear();
  ro.cfg_scale = 1.5;
  rf_euler_sample(model, Shape{B, 2, 2, 2}, y, g, ro);
  REQUIRE(labels.size() == 20);  // separate null forward
  CHECK(labels[0] == std::vector<int64_t>{5, 6});
  CHECK(labels[1] == std::vector<int64_t>{1000, 1000});

  labels.clear();
  DDPMSampleOptions d;
  d.steps = 10;
  ddpm_sample(model, Shape{B, 2, 2, 2}, y, g, d);
  CHECK(labels.size() == 10);
  CHECK(labels[0] == std::vector<int64_t>{5, 6});
  labels.clear();
  d.cfg_scale = 4.0;
  d.num_classes = 10;
  ddpm_sample(model, Shape{B, 2, 2, 2}, y, g, d);
  REQUIRE(labels.size() == 10);  // one doubled-batch forward per step (DiT forward_with_cfg)
  CHECK(labels[0] == std::vector<int64_t>{5, 6, 10, 10});
  labels.clear();
  ddim_sample(model, Shape{B, 2, 2, 2}, y, g, d);
  CHECK(labels.size() == 10);
}

TEST_CASE("diffusion: samplers are deterministic for a fixed seed") {
  DenoiserFn model = [](const Tensor& x, const Tensor& t, const Tensor&) {
    return cat({tanh(x) * 0.5, x * 0.0 + 0.3}, 1);
  };
  Tensor y = from_vector<int64_t>({1, 2}, {2});
  DDPMSampleOptions d;
  d.steps = 20;
  d.cfg_scale = 2.0;
  Generator a(42), b(42), c(43);
  Tensor sa = ddpm_sample(model, Shape{2, 3, 4, 4}, y, a, d), sb = ddpm_sample(model, Shape{2, 3, 4, 4}, y, b, d);
  Tensor sc = ddpm_sample(model, Shape{2, 3, 4, 4}, y, c, d);
  CHECK(max_abs_diff(sa, sb) == 0.0);
  CHECK(max_abs_diff(sa, sc) > 1e-3);
  CHECK(a.offset() == b.offset());
  RFSampleOptions r;
  r.steps = 20;
  Generator ra(42), rb(42);
  CHECK(max_abs_diff(rf_euler_sample(model, Shape{2, 3, 4, 4}, y, ra, r),
                     rf_euler_sample(model, Shape{2, 3, 4, 4}, y, rb, r)) == 0.0);
  Generator da(7), db(7);
  d.eta = 0.5;
  CHECK(max_abs_diff(ddim_sample(model, Shape{2, 3, 4, 4}, y, da, d),
                     ddim_sample(model, Shape{2, 3, 4, 4}, y, db, d)) == 0.0);
}

// -----------------------------------------------------------------------------------------------
// Differentiability of the losses w.r.t. a toy model's parameters (finite differences, double)
