// Checkpoint loader, as `promoe sample` and `train --resume` use it: the metadata, the model
// configuration (bounded by the file's size), then every tensor into a model of that
// configuration. A file either loads, leaving finite weights, EMA and moments and a non-negative
// step, or throws promoe::Error.
#include "fuzz_util.h"
#include "training/checkpoint.h"
#include "training/finite_check.h"
#include "training/model_spec.h"

using namespace promoe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputFile file(data, size);
  try {
    training::CheckpointState state = training::read_checkpoint_state(file.path());
    training::ModelSpec spec = training::ModelSpec::from_file(state.model_config, file.path());
    auto model = spec.build(0);
    NamedTensors params = model->named_parameters();
    nn::AdamW opt(params, {});
    nn::Ema ema(params, 0.9);
    training::CheckpointState loaded = training::load_checkpoint(file.path(), *model, &ema, &opt, state.model_config);
    FUZZ_REQUIRE(loaded.step >= 0 && opt.step_count >= 0);
    FUZZ_REQUIRE(training::first_non_finite(params).empty());
    FUZZ_REQUIRE(training::first_non_finite(ema.shadow).empty());
    FUZZ_REQUIRE(training::all_finite(opt.exp_avg) && training::all_finite(opt.exp_avg_sq));
  } catch (const Error&) {
  }
  return 0;
}
