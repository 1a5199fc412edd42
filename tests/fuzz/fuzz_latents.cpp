// Latent data sets from safetensors: a file either loads as latents (N, C, H, W) f32 and N
// non-negative i64 labels, both covering their shapes, or throws promoe::Error.
#include "fuzz_util.h"
#include "io/latents.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  try {
    promoe::io::LatentDataset d = promoe::io::load_latents_safetensors(file.path());
    promoe::fuzz::require_covered(d.latents);
    promoe::fuzz::require_covered(d.labels);
    FUZZ_REQUIRE(d.latents.dim() == 4 && d.labels.dim() == 1 && d.labels.size(0) == d.latents.size(0));
    for (int64_t y : d.labels.to_vector<int64_t>()) FUZZ_REQUIRE(y >= 0);
  } catch (const promoe::Error&) {
  }
  return 0;
}
