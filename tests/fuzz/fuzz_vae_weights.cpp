// The weights file of an AutoencoderKL folder (vae/load.h) for a fixed small configuration: a
// file either loads, every parameter written from a tensor of its name and shape and finite, or
// throws promoe::Error.
#include <cmath>

#include "fuzz_util.h"
#include "io/safetensors.h"
#include "vae/load.h"

using namespace promoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vae::VaeConfig config = vae::parse_vae_config(
      R"({"block_out_channels": [4, 8], "norm_num_groups": 2, "latent_channels": 2, "in_channels": 1,
          "out_channels": 1, "layers_per_block": 1})",
      "config.json");
  fuzz::InputFile file(data, size);
  try {
    const io::SafeTensors weights = io::read_safetensors(file.path());
    Generator gen(0);
    vae::AutoencoderKL model(config, gen);
    vae::load_vae_weights(model, weights);
    FUZZ_REQUIRE(weights.tensors.size() == model.state_dict().size());
    for (const auto& [name, t] : model.state_dict()) {
      fuzz::require_covered(t);
      for (float v : t.to_vector<float>()) FUZZ_REQUIRE(std::isfinite(v));
    }
  } catch (const Error&) {
  }
  return 0;
}
