// The config.json of an AutoencoderKL folder (vae/config.h): text either parses into a
// configuration within the limits (parameter count, block count, groups dividing every channel
// count), whose model, where small enough to build here, has exactly the parameters counted, or
// throws promoe::Error.
#include <string>

#include "fuzz_util.h"
#include "vae/autoencoder_kl.h"

using namespace promoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const vae::VaeConfig c = vae::parse_vae_config(text, "config.json");
    const double count = vae::vae_parameter_count(c);
    FUZZ_REQUIRE(count > 0 && count <= double(vae::kMaxVaeParameters));
    FUZZ_REQUIRE(!c.block_out_channels.empty() && int64_t(c.block_out_channels.size()) <= vae::kMaxVaeBlocks);
    for (int64_t ch : c.block_out_channels) FUZZ_REQUIRE(ch > 0 && ch % c.norm_num_groups == 0);
    if (count <= 2e5) {  // (the -malloc_limit_mb of the run)
      Generator gen(0);
      vae::AutoencoderKL model(c, gen);
      FUZZ_REQUIRE(double(model.num_parameters()) == count);
    }
  } catch (const Error&) {
  }
  return 0;
}
