// Rectified-flow training objective (see rectified_flow.h for the formulas and choices).
#include "diffusion/rectified_flow.h"

#include <vector>

#include "autograd/ops.h"

namespace promoe::diffusion {

namespace {

// (B) -> (B, 1, ..., 1) with `rank` dims, for broadcasting a per-sample value over a batch tensor.
Tensor per_sample(const Tensor& v, int64_t rank) {
  Shape s(static_cast<size_t>(rank), 1);
  s[0] = v.size(0);
  return reshape(v, s);
}

std::vector<int64_t> non_batch_dims(const Tensor& a) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < a.dim(); ++d) dims.push_back(d);
  return dims;
}

}  // namespace

Tensor rf_sample_sigma(Generator& gen, int64_t batch, const RFConfig& cfg, DType dtype, Device device) {
  PROMOE_CHECK(batch > 0, "rf_sample_sigma: batch must be positive, got ", batch);
  Tensor u = gen.normal({batch}, cfg.logit_mean, cfg.logit_std, dtype, device);
  if (cfg.sigmoid_scale != 1.0) u = u * cfg.sigmoid_scale;
  Tensor sigma = sigmoid(u);
  if (cfg.shift != 1.0) sigma = (sigma * cfg.shift) / ((sigma * (cfg.shift - 1.0)) + 1.0);
  return sigma.detach();
}

Tensor rf_model_time(const Tensor& sigma, const RFConfig& cfg) { return sigma * cfg.num_train_timesteps; }

Tensor rf_interpolate(const Tensor& x0, const Tensor& sigma, const Tensor& noise) {
  PROMOE_CHECK(x0.shape() == noise.shape(), "rf_interpolate: x0 ", describe(x0), " and noise ", describe(noise),
               " differ in shape");
  PROMOE_CHECK(sigma.dim() == 1 && sigma.size(0) == x0.size(0), "rf_interpolate: sigma must be (B), got ",
               describe(sigma), " for x0 ", describe(x0));
  Tensor s = per_sample(to(sigma, x0.dtype()), x0.dim());
  return (-s + 1.0) * x0 + s * noise;
}

Tensor rf_mse_loss(const Tensor& model_out, const Tensor& x0, const Tensor& noise) {
  const int64_t C = x0.size(1);
  PROMOE_CHECK(model_out.dim() == x0.dim() && model_out.size(0) == x0.size(0) && model_out.size(1) >= C,
               "rf_mse_loss: model output ", describe(model_out), " does not fit x0 ", describe(x0));
  Tensor pred = narrow(model_out, 1, 0, C);
  Tensor target = noise - x0;
  Tensor per = mean(square(pred - target), non_batch_dims(x0));  // (B)
  return mean(per);
}

RFLoss rf_training_loss(const DenoiserFn& model, const Tensor& x0, const Tensor& y, const Tensor& sigma,
                        const Tensor& noise, const RFConfig& cfg) {
  PROMOE_CHECK(x0.dim() >= 2, "rf_training_loss: x0 must be (B, C, ...), got ", describe(x0));
  RFLoss r;
  r.sigma = to(sigma, x0.dtype());
  r.noise = noise;
  r.t = rf_model_time(r.sigma, cfg);
  r.x_t = rf_interpolate(x0, r.sigma, noise);
  r.model_out = model(r.x_t, r.t, y);
  r.loss = rf_mse_loss(r.model_out, x0, noise);
  return r;
}

RFLoss rf_training_loss(const DenoiserFn& model, const Tensor& x0, const Tensor& y, Generator& gen,
                        const RFConfig& cfg) {
  Tensor sigma = rf_sample_sigma(gen, x0.size(0), cfg, x0.dtype(), x0.device());
  Tensor noise = gen.randn(x0.shape(), x0.dtype(), x0.device());
  return rf_training_loss(model, x0, y, sigma, noise, cfg);
}

}  // namespace promoe::diffusion
