// Model configuration JSON (checkpoints' model_config, cases' config): text either parses into a
// valid configuration that round-trips through to_json and whose parameter counts are positive
// (activated <= total), or throws promoe::Error.
#include <string>

#include "fuzz_util.h"
#include "training/model_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    promoe::training::ModelSpec spec = promoe::training::ModelSpec::from_json(text);
    const promoe::moe::ParamCount c = promoe::moe::count_parameters(spec.dit, spec.moe);
    FUZZ_REQUIRE(c.total > 0 && c.activated > 0 && c.activated <= c.total);
    FUZZ_REQUIRE(promoe::training::ModelSpec::from_json(spec.to_json()).to_json() == spec.to_json());
  } catch (const promoe::Error&) {
  }
  return 0;
}
