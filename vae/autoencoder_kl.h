// diffusers' AutoencoderKL (the Stable Diffusion VAE): the encoder (conv_in, down blocks, mid
// block, GroupNorm + SiLU + conv_out to 2 * latent channels), quant_conv, the diagonal Gaussian
// posterior over latents, post_quant_conv and the decoder (conv_in, mid block, up blocks,
// GroupNorm + SiLU + conv_out). Parameter names are diffusers' (encoder.down_blocks.0.resnets.1.
// conv2.weight, ...), so its state dicts load as they are (vae/load.h).
#pragma once
#include <memory>
#include <vector>

#include "vae/blocks.h"
#include "vae/config.h"

namespace promoe::vae {

class Encoder : public Module {
 public:
  Encoder(const VaeConfig& c, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (B, in, H, W) -> (B, 2 * latent, H / f, W / f)

  std::shared_ptr<nn::Conv2d> conv_in, conv_out;
  std::vector<std::shared_ptr<SamplingBlock>> down_blocks;
  std::shared_ptr<MidBlock> mid_block;
  std::shared_ptr<nn::GroupNorm> conv_norm_out;
};

class Decoder : public Module {
 public:
  Decoder(const VaeConfig& c, Generator& gen);
  Tensor forward(const Tensor& z) const;  // (B, latent, h, w) -> (B, out, h * f, w * f)

  std::shared_ptr<nn::Conv2d> conv_in, conv_out;
  std::vector<std::shared_ptr<SamplingBlock>> up_blocks;
  std::shared_ptr<MidBlock> mid_block;
  std::shared_ptr<nn::GroupNorm> conv_norm_out;
};

// DiagonalGaussianDistribution: the moments split over channels into mean and log-variance, the
// latter clamped to [-30, 20] as diffusers does. Both (B, latent, h, w).
struct Posterior {
  Tensor mean, logvar;
  // mean + exp(logvar / 2) * noise, noise ~ N(0, 1) from `gen`.
  Tensor sample(Generator& gen) const;
};

class AutoencoderKL : public Module {
 public:
  // At random initialisation (PyTorch's defaults); load_vae (vae/load.h) reads trained weights.
  AutoencoderKL(const VaeConfig& c, Generator& gen);

  // Images in [-1, 1] (B, in, H, W), H and W multiples of config().downsample_factor().
  Posterior encode(const Tensor& x) const;
  // The posterior's parameters before the log-variance is clamped (diffusers'
  // encode(x).latent_dist.parameters, what the official preprocessing stores): mean and
  // log-variance concatenated over channels, (B, 2 * latent, h, w).
  Tensor moments(const Tensor& x) const;
  // VAE latents z (B, latent, h, w) (not multiplied by scaling_factor) -> images (B, out, h f, w f).
  Tensor decode(const Tensor& z) const;

  const VaeConfig& config() const { return config_; }

  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Decoder> decoder;
  std::shared_ptr<nn::Conv2d> quant_conv, post_quant_conv;  // null where the config turns them off

 private:
  VaeConfig config_;
};

// Latents in the diffusion model's space ((z - shift_factor) * scaling_factor, as the official
// sampling and training code use them), (N, latent, h, w) on any device, to images (N, out, H, W)
// on the CPU: divided by scaling_factor (plus shift_factor) first, decoded `batch` at a time on
// the model's device, without gradients.
Tensor decode_model_latents(const AutoencoderKL& vae, const Tensor& latents, int64_t batch);

}  // namespace promoe::vae
