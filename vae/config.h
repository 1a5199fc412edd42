// The configuration of an AutoencoderKL as diffusers writes it in a model folder's config.json
// (the Stable Diffusion VAEs: sd-vae-ft-ema, sd-vae-ft-mse, ...). Keys that are absent take
// diffusers' defaults; keys that do not shape the model (sample_size, force_upcast, latents_mean,
// ...) are ignored. Every number is range-checked before anything is allocated.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace promoe::vae {

struct VaeConfig {
  int64_t in_channels = 3, out_channels = 3;
  std::vector<int64_t> block_out_channels = {64};  // one down (and one up) block each
  int64_t layers_per_block = 1;                    // ResNet blocks per down block (one more per up block)
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;  // latents in the diffusion model's space are z * scaling_factor
  double shift_factor = 0.0;        // ... of (z - shift_factor), where the config sets one
  bool use_quant_conv = true, use_post_quant_conv = true, mid_block_add_attention = true;

  // Every down block halves the image but the last: the side of a latent is image side / factor.
  int64_t downsample_factor() const { return int64_t(1) << (block_out_channels.size() - 1); }
};

// The limits a config must keep (so that a hostile config.json cannot ask for terabytes).
inline constexpr int64_t kMaxVaeChannels = 4096, kMaxVaeBlocks = 8, kMaxVaeLayersPerBlock = 16,
                         kMaxVaeImageChannels = 64, kMaxVaeParameters = int64_t(1) << 31;

// Parses config.json text; `what` (the file) starts every error message.
VaeConfig parse_vae_config(const std::string& json_text, const std::string& what);
VaeConfig read_vae_config(const std::string& path);

// The number of parameters the model of `c` has (diffusers' count), computed in double so that it
// cannot overflow; validation refuses configs beyond kMaxVaeParameters.
double vae_parameter_count(const VaeConfig& c);

}  // namespace promoe::vae
