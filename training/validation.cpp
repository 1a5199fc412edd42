// The deterministic validation loss.
#include "training/validation.h"

#include "autograd/ops.h"
#include "diffusion/gaussian_diffusion.h"
#include "diffusion/rectified_flow.h"

namespace promoe::training {

double validation_loss(nn::DiT& model, const std::string& objective, const Tensor& images, const Tensor& labels,
                       int64_t batch, uint64_t seed) {
  PROMOE_CHECK(images.size(0) == labels.size(0) && images.size(0) > 0 && batch > 0,
               "validation: need a non-empty set with one label per image");
  PROMOE_CHECK(objective == "rf" || objective == "ddpm", "validation: unknown objective '", objective, "'");
  const bool was_training = model.is_training();
  model.train(false);
  NoGradGuard ng;
  Generator gen(seed);
  const diffusion::GaussianDiffusion ddpm = diffusion::GaussianDiffusion::create("");
  auto denoiser = [&](const Tensor& x, const Tensor& t, const Tensor& y) { return model.forward(x, t, y); };
  const Device device = model.pos_embed.device();
  double sum = 0;
  const int64_t n = images.size(0);
  for (int64_t at = 0; at < n; at += batch) {
    const int64_t b = std::min(batch, n - at);
    Tensor x0 = raw::to(raw::narrow(images, 0, at, b), device), y = raw::to(raw::narrow(labels, 0, at, b), device);
    Tensor loss = objective == "rf" ? diffusion::rf_training_loss(denoiser, x0, y, gen).loss
                                    : ddpm.training_losses(denoiser, x0, y, gen).loss;
    sum += loss.item() * double(b);  // the loss is a batch mean
  }
  model.train(was_training);
  return sum / double(n);
}

}  // namespace promoe::training
