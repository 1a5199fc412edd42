// Finite-difference checks that the RF and DDPM losses are differentiable w.r.t. a toy model's
// parameters.
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

namespace {

// 1×1 convolution: out[b, o] = Σ_c W[o, c] x[b, c] + bias[o] · t/1000.
Tensor conv1x1(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& t) {
  const int64_t B = x.size(0), O = w.size(0);
  Tensor h = permute(matmul(permute(x, {0, 2, 3, 1}), transpose(w, 0, 1)), {0, 3, 1, 2});
  return h + reshape(bias, {1, O, 1, 1}) * reshape(t, {B, 1, 1, 1}) / 1000.0;
}

}  // namespace

TEST_CASE("diffusion: gradcheck of the RF loss through a toy linear model") {
  const int64_t B = 2, C = 2;
  Generator g(77);
  Tensor x0 = g.randn({B, C, 2, 2}, DType::F64), eps = g.randn({B, C, 2, 2}, DType::F64);
  Tensor sigma = from_vector<double>({0.3, 0.8}, {B});
  Tensor y = from_vector<int64_t>({0, 1}, {B});
  Tensor w = g.randn({2 * C, C}, DType::F64) * 0.5, bias = g.randn({2 * C}, DType::F64);
  w.set_requires_grad(true);
  bias.set_requires_grad(true);
  auto r = gradcheck(
      [&](const std::vector<Tensor>& p) {
        DenoiserFn model = [&](const Tensor& x, const Tensor& t, const Tensor&) { return conv1x1(x, p[0], p[1], t); };
        return rf_training_loss(model, x0, y, sigma, eps).loss;
      },
      {w, bias});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("diffusion: gradcheck of the DDPM loss (variance path) and of its MSE (mean path)") {
  const int64_t B = 3, C = 2;
  GaussianDiffusion d = GaussianDiffusion::create("");
  Generator g(78);
  Tensor x0 = edge_data(g, {B, C, 2, 2}, DType::F64), noise = g.randn({B, C, 2, 2}, DType::F64);
  Tensor t = from_vector<int64_t>({0, 3, 400}, {B});
  Tensor y = from_vector<int64_t>({0, 1, 2}, {B});
  // ε̂ = noise + a small learned correction (keeps the t = 0 decoder likelihood unsaturated).
  Tensor w_eps = g.randn({C, C}, DType::F64) * 0.05, b_eps = g.randn({C}, DType::F64) * 0.05;
  Tensor w_var = g.randn({C, C}, DType::F64) * 0.3, b_var = g.randn({C}, DType::F64) * 0.3;
  auto make_model = [&](Tensor we, Tensor be, Tensor wv, Tensor bv) {
    return DenoiserFn([=](const Tensor& x, const Tensor& tt, const Tensor&) {
      Tensor eps_hat = noise + conv1x1(x, we, be, tt);
      Tensor v = tanh(conv1x1(x, wv, bv, tt));
      return cat({eps_hat, v}, 1);
    });
  };
  SUBCASE("variance parameters: the full loss (mse + vlb)") {
    w_var.set_requires_grad(true);
    b_var.set_requires_grad(true);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& p) {
          return d.training_losses(make_model(w_eps, b_eps, p[0], p[1]), x0, y, t, noise).loss;
        },
        {w_var, b_var});
    CHECK_MESSAGE(r.ok, r.report);
  }
  SUBCASE("mean parameters: the mse term, and the loss's gradient equals the mse's") {
    w_eps.set_requires_grad(true);
    b_eps.set_requires_grad(true);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& p) {
          return d.training_losses(make_model(p[0], p[1], w_var, b_var), x0, y, t, noise).mse;
        },
        {w_eps, b_eps});
    CHECK_MESSAGE(r.ok, r.report);
    DDPMLoss full = d.training_losses(make_model(w_eps, b_eps, w_var, b_var), x0, y, t, noise);
    full.loss.backward();
    Tensor g_loss = raw::clone(w_eps.grad());
    w_eps.zero_grad();
    d.training_losses(make_model(w_eps, b_eps, w_var, b_var), x0, y, t, noise).mse.backward();
    CHECK(max_abs_diff(g_loss, w_eps.grad()) < 1e-14);
  }
}
