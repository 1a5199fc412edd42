// Encoder, decoder and the AutoencoderKL around them.
#include "vae/autoencoder_kl.h"

#include <algorithm>
#include <string>

#include "autograd/ops.h"

namespace promoe::vae {

Encoder::Encoder(const VaeConfig& c, Generator& gen) {
  const std::vector<int64_t>& ch = c.block_out_channels;
  const int64_t groups = c.norm_num_groups, top = ch.back();
  conv_in = register_module("conv_in", std::make_shared<nn::Conv2d>(c.in_channels, ch[0], 3, 1, 1, gen));
  auto blocks = register_module("down_blocks", std::make_shared<Container>());
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t in = i == 0 ? ch[0] : ch[i - 1];
    const bool last = i + 1 == ch.size();
    down_blocks.push_back(blocks->add(
        std::to_string(i), std::make_shared<SamplingBlock>(in, ch[i], c.layers_per_block, groups, true, !last, gen)));
  }
  mid_block = register_module("mid_block", std::make_shared<MidBlock>(top, groups, c.mid_block_add_attention, gen));
  conv_norm_out = register_module("conv_norm_out", std::make_shared<nn::GroupNorm>(groups, top, kNormEps));
  conv_out = register_module("conv_out", std::make_shared<nn::Conv2d>(top, 2 * c.latent_channels, 3, 1, 1, gen));
}

Tensor Encoder::forward(const Tensor& x) const {
  Tensor h = conv_in->forward(x);
  for (const auto& block : down_blocks) h = block->forward(h);
  h = mid_block->forward(h);
  return conv_out->forward(silu(conv_norm_out->forward(h)));
}

Decoder::Decoder(const VaeConfig& c, Generator& gen) {
  const std::vector<int64_t>& ch = c.block_out_channels;
  const int64_t groups = c.norm_num_groups, top = ch.back();
  conv_in = register_module("conv_in", std::make_shared<nn::Conv2d>(c.latent_channels, top, 3, 1, 1, gen));
  // Up block i works at block_out_channels[n - 1 - i]; diffusers registers them before the mid block.
  auto blocks = register_module("up_blocks", std::make_shared<Container>());
  int64_t prev = top;
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t out = ch[ch.size() - 1 - i];
    const bool last = i + 1 == ch.size();
    up_blocks.push_back(
        blocks->add(std::to_string(i),
                    std::make_shared<SamplingBlock>(prev, out, c.layers_per_block + 1, groups, false, !last, gen)));
    prev = out;
  }
  mid_block = register_module("mid_block", std::make_shared<MidBlock>(top, groups, c.mid_block_add_attention, gen));
  conv_norm_out = register_module("conv_norm_out", std::make_shared<nn::GroupNorm>(groups, ch[0], kNormEps));
  conv_out = register_module("conv_out", std::make_shared<nn::Conv2d>(ch[0], c.out_channels, 3, 1, 1, gen));
}

Tensor Decoder::forward(const Tensor& z) const {
  Tensor h = mid_block->forward(conv_in->forward(z));
  for (const auto& block : up_blocks) h = block->forward(h);
  return conv_out->forward(silu(conv_norm_out->forward(h)));
}

Tensor Posterior::sample(Generator& gen) const {
  return mean + exp(logvar * 0.5) * gen.randn(mean.shape(), mean.dtype(), mean.device());
}

AutoencoderKL::AutoencoderKL(const VaeConfig& c, Generator& gen) : config_(c) {
  encoder = register_module("encoder", std::make_shared<Encoder>(c, gen));
  decoder = register_module("decoder", std::make_shared<Decoder>(c, gen));
  const int64_t L = c.latent_channels;
  if (c.use_quant_conv)
    quant_conv = register_module("quant_conv", std::make_shared<nn::Conv2d>(2 * L, 2 * L, 1, 1, 0, gen));
  if (c.use_post_quant_conv)
    post_quant_conv = register_module("post_quant_conv", std::make_shared<nn::Conv2d>(L, L, 1, 1, 0, gen));
}

Tensor AutoencoderKL::moments(const Tensor& x) const {
  const int64_t f = config_.downsample_factor();
  PROMOE_CHECK(x.dim() == 4 && x.size(1) == config_.in_channels && x.size(2) % f == 0 && x.size(3) % f == 0,
               "vae encode: images ", describe(x), " are not (B, ", config_.in_channels,
               ", H, W) with H and W multiples of ", f);
  Tensor m = encoder->forward(x);
  return quant_conv ? quant_conv->forward(m) : m;
}

Posterior AutoencoderKL::encode(const Tensor& x) const {
  const Tensor m = moments(x);
  const int64_t L = config_.latent_channels;
  return {narrow(m, 1, 0, L), clamp(narrow(m, 1, L, L), -30.0, 20.0)};
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  PROMOE_CHECK(z.dim() == 4 && z.size(1) == config_.latent_channels, "vae decode: latents ", describe(z),
               " are not (B, ", config_.latent_channels, ", h, w)");
  return decoder->forward(post_quant_conv ? post_quant_conv->forward(z) : z);
}

Tensor decode_model_latents(const AutoencoderKL& vae, const Tensor& latents, int64_t batch) {
  const VaeConfig& c = vae.config();
  PROMOE_CHECK(latents.dim() == 4 && latents.size(1) == c.latent_channels, "vae decode: latents ", describe(latents),
               " are not (N, ", c.latent_channels, ", h, w)");
  PROMOE_CHECK(batch >= 1, "vae decode: batch ", batch, " must be positive");
  NoGradGuard no_grad;
  const Tensor& w = vae.decoder->conv_in->weight;  // the model's device and dtype
  const int64_t n = latents.size(0), f = c.downsample_factor();
  Tensor images = Tensor::empty({n, c.out_channels, latents.size(2) * f, latents.size(3) * f}, w.dtype());
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min(batch, n - i);
    Tensor z = raw::to(raw::narrow(latents, 0, i, b), w.dtype(), w.device());
    z = raw::add_scalar(raw::mul_scalar(z, 1.0 / c.scaling_factor), c.shift_factor);
    raw::copy_(raw::narrow(images, 0, i, b), vae.decode(z));
  }
  return images;
}

}  // namespace promoe::vae
