// The VAE that decodes latents for `promoe decode` and `promoe sample --vae`.
#pragma once
#include <memory>
#include <string>

#include "vae/autoencoder_kl.h"

namespace promoe::apps {

// The AutoencoderKL of the diffusers folder `dir` on `device`, ready to decode latents of
// `latent_channels` channels (-1: any), which vae::decode_model_latents turns into images; null
// for an empty `dir`. Read before sampling, so a bad folder fails at once.
std::shared_ptr<const vae::AutoencoderKL> load_decoder(const std::string& dir, Device device,
                                                       int64_t latent_channels = -1);

}  // namespace promoe::apps
