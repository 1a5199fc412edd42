// Loading the decoding VAE.
#include "apps/vae_decode.h"

#include "vae/load.h"

namespace promoe::apps {

std::shared_ptr<const vae::AutoencoderKL> load_decoder(const std::string& dir, Device device, int64_t latent_channels) {
  if (dir.empty()) return nullptr;
  auto vae = vae::load_vae(dir);
  PROMOE_CHECK(latent_channels < 0 || vae->config().latent_channels == latent_channels, "--vae ", dir,
               ": the VAE decodes ", vae->config().latent_channels, "-channel latents, the model samples ",
               latent_channels, " channels");
  vae->to(device);
  return vae;
}

}  // namespace promoe::apps
