// Checkpoint writing and reading over safetensors.
#include "training/checkpoint.h"

#include "io/safetensors.h"
#include "tensor/ops.h"

namespace promoe::training {

namespace {
constexpr const char* kFormat = "promoe-checkpoint-1";

void load_into(const io::SafeTensors& file, const std::string& key, const Tensor& dst) {
  PROMOE_CHECK(file.has(key), "checkpoint ", file.path, ": missing tensor '", key, "'");
  const Tensor& src = file.get(key);
  PROMOE_CHECK(src.shape() == dst.shape(), "checkpoint ", file.path, ": tensor '", key, "' is ", shape_str(src.shape()),
               ", the model expects ", shape_str(dst.shape()));
  raw::copy_(dst, src);
}

CheckpointState state_of(const io::SafeTensors& file) {
  PROMOE_CHECK(file.has_metadata("format") && file.metadata("format") == kFormat, "checkpoint ", file.path,
               ": not a promoe checkpoint (metadata 'format' is missing or not ", kFormat, ")");
  CheckpointState s;
  s.model_config = file.metadata("model_config");
  s.train_config = file.has_metadata("train_config") ? file.metadata("train_config") : "";
  try {
    s.step = std::stoll(file.metadata("step"));
    s.rng_seed = std::stoull(file.metadata("rng_seed"));
    s.rng_offset = std::stoull(file.metadata("rng_offset"));
  } catch (const std::logic_error&) {
    PROMOE_FAIL("checkpoint ", file.path, ": malformed step or generator state in the metadata");
  }
  return s;
}
}  // namespace

void save_checkpoint(const std::string& path, const nn::DiT& model, const nn::Ema& ema, const nn::AdamW& opt,
                     const CheckpointState& state) {
  io::NamedTensors tensors;
  for (auto& [name, t] : model.state_dict()) tensors.emplace_back("model." + name, t);
  for (auto& [name, t] : ema.shadow) tensors.emplace_back("ema." + name, t);
  for (size_t i = 0; i < opt.params.size(); ++i) {
    tensors.emplace_back("opt.exp_avg." + opt.params[i].first, opt.exp_avg[i]);
    tensors.emplace_back("opt.exp_avg_sq." + opt.params[i].first, opt.exp_avg_sq[i]);
  }
  io::Metadata meta{{"format", kFormat},
                    {"model_config", state.model_config},
                    {"train_config", state.train_config},
                    {"step", std::to_string(state.step)},
                    {"adam_step", std::to_string(opt.step_count)},
                    {"rng_seed", std::to_string(state.rng_seed)},
                    {"rng_offset", std::to_string(state.rng_offset)}};
  io::write_safetensors(path, tensors, meta);
}

CheckpointState read_checkpoint_state(const std::string& path) { return state_of(io::read_safetensors(path)); }

CheckpointState load_checkpoint(const std::string& path, nn::DiT& model, nn::Ema* ema, nn::AdamW* opt,
                                const std::string& expected_model_config) {
  io::SafeTensors file = io::read_safetensors(path);
  CheckpointState s = state_of(file);
  PROMOE_CHECK(s.model_config == expected_model_config, "checkpoint ", path, " was written for the model ",
               s.model_config, ", not for ", expected_model_config);
  for (auto& [name, t] : model.state_dict()) load_into(file, "model." + name, t);
  if (ema)
    for (auto& [name, t] : ema->shadow) load_into(file, "ema." + name, t);
  if (opt) {
    for (size_t i = 0; i < opt->params.size(); ++i) {
      load_into(file, "opt.exp_avg." + opt->params[i].first, opt->exp_avg[i]);
      load_into(file, "opt.exp_avg_sq." + opt->params[i].first, opt->exp_avg_sq[i]);
    }
    opt->step_count = std::stoll(file.metadata("adam_step"));
  }
  return s;
}

void load_ema_weights(const std::string& path, nn::DiT& model) {
  io::SafeTensors file = io::read_safetensors(path);
  state_of(file);
  for (auto& [name, t] : model.named_parameters()) load_into(file, "ema." + name, t);
}

}  // namespace promoe::training
