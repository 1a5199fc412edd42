// Checkpoint writing and reading over safetensors.
#include "training/checkpoint.h"

#include "io/safetensors.h"
#include "tensor/ops.h"
#include "training/finite_check.h"

namespace promoe::training {

namespace {
constexpr const char* kFormat = "promoe-checkpoint-1";

// The file's tensor `key`, checked against the shape of `dst`.
const Tensor& source_for(const io::SafeTensors& file, const std::string& key, const Tensor& dst) {
  PROMOE_CHECK(file.has(key), "checkpoint ", file.path, ": missing tensor '", key, "'");
  const Tensor& src = file.get(key);
  PROMOE_CHECK(src.shape() == dst.shape(), "checkpoint ", file.path, ": tensor '", key, "' is ", shape_str(src.shape()),
               ", the model expects ", shape_str(dst.shape()));
  return src;
}

// Copies file tensors into their destinations after checking every shape and that every value is
// finite, so a refused file leaves the destinations as they were.
void load_all(const io::SafeTensors& file, const std::vector<std::pair<std::string, Tensor>>& key_dst) {
  NamedTensors sources;
  for (const auto& [key, dst] : key_dst) sources.emplace_back(key, source_for(file, key, dst));
  const std::string bad = first_non_finite(sources);
  PROMOE_CHECK(bad.empty(), "checkpoint ", file.path, ": tensor '", bad,
               "' holds NaN or infinite values (a diverged run); refusing to load it");
  for (size_t i = 0; i < key_dst.size(); ++i) raw::copy_(key_dst[i].second, sources[i].second);
}

CheckpointState state_of(const io::SafeTensors& file) { return checkpoint_state(file.path, file.meta); }
}  // namespace

CheckpointState checkpoint_state(const std::string& path, const io::Metadata& meta) {
  auto get = [&](const char* key) -> const std::string& {
    auto it = meta.find(key);
    PROMOE_CHECK(it != meta.end(), "file ", path, " has no metadata key ", key);
    return it->second;
  };
  PROMOE_CHECK(meta.count("format") && get("format") == kFormat, "checkpoint ", path,
               ": not a promoe checkpoint (metadata 'format' is missing or not ", kFormat, ")");
  CheckpointState s;
  s.model_config = get("model_config");
  s.train_config = meta.count("train_config") ? get("train_config") : "";
  try {
    s.step = std::stoll(get("step"));
    s.rng_seed = std::stoull(get("rng_seed"));
    s.rng_offset = std::stoull(get("rng_offset"));
  } catch (const std::logic_error&) {
    PROMOE_FAIL("checkpoint ", path, ": malformed step or generator state in the metadata");
  }
  PROMOE_CHECK(s.step >= 0, "checkpoint ", path, ": negative step ", s.step, " in the metadata");
  return s;
}

void save_checkpoint(const std::string& path, const nn::DiT& model, const nn::Ema& ema, const nn::AdamW& opt,
                     const CheckpointState& state) {
  write_checkpoint(path, checkpoint_tensors(model, ema, opt), opt.step_count, state);
}

std::vector<std::string> checkpoint_keys(const std::string& parameter) {
  return {"model." + parameter, "ema." + parameter, "opt.exp_avg." + parameter, "opt.exp_avg_sq." + parameter};
}

io::NamedTensors checkpoint_tensors(const nn::DiT& model, const nn::Ema& ema, const nn::AdamW& opt) {
  io::NamedTensors tensors;
  for (auto& [name, t] : model.state_dict()) tensors.emplace_back("model." + name, t);
  for (auto& [name, t] : ema.shadow) tensors.emplace_back("ema." + name, t);
  tensors.emplace_back("ema.pos_embed", model.pos_embed);  // so the "ema." set is a whole official state_dict
  for (size_t i = 0; i < opt.params.size(); ++i) {
    tensors.emplace_back("opt.exp_avg." + opt.params[i].first, opt.exp_avg[i]);
    tensors.emplace_back("opt.exp_avg_sq." + opt.params[i].first, opt.exp_avg_sq[i]);
  }
  return tensors;
}

void write_checkpoint(const std::string& path, const io::NamedTensors& tensors, int64_t adam_step,
                      const CheckpointState& state) {
  io::Metadata meta{{"format", kFormat},
                    {"model_config", state.model_config},
                    {"train_config", state.train_config},
                    {"step", std::to_string(state.step)},
                    {"adam_step", std::to_string(adam_step)},
                    {"rng_seed", std::to_string(state.rng_seed)},
                    {"rng_offset", std::to_string(state.rng_offset)}};
  const std::string bad = first_non_finite(tensors);
  if (!bad.empty())
    throw NonFiniteState(
        detail::concat("checkpoint ", path, " not written: tensor '", bad, "' holds NaN or infinite values"), bad);
  io::write_safetensors(path, tensors, meta);
}

CheckpointState read_checkpoint_state(const std::string& path) {
  const io::SafeTensorsReader file(path);  // the header only
  return checkpoint_state(path, file.metadata());
}

CheckpointState load_checkpoint(const std::string& path, nn::DiT& model, nn::Ema* ema, nn::AdamW* opt,
                                const std::string& expected_model_config) {
  io::SafeTensors file = io::read_safetensors(path);
  CheckpointState s = state_of(file);
  PROMOE_CHECK(s.model_config == expected_model_config, "checkpoint ", path, " was written for the model ",
               s.model_config, ", not for ", expected_model_config);
  NamedTensors targets;
  for (auto& [name, t] : model.state_dict()) targets.emplace_back("model." + name, t);
  if (ema)
    for (auto& [name, t] : ema->shadow) targets.emplace_back("ema." + name, t);
  int64_t adam_step = 0;
  if (opt) {
    for (size_t i = 0; i < opt->params.size(); ++i) {
      targets.emplace_back("opt.exp_avg." + opt->params[i].first, opt->exp_avg[i]);
      targets.emplace_back("opt.exp_avg_sq." + opt->params[i].first, opt->exp_avg_sq[i]);
    }
    try {
      adam_step = std::stoll(file.metadata("adam_step"));
    } catch (const std::logic_error&) {
      PROMOE_FAIL("checkpoint ", path, ": malformed adam_step in the metadata");
    }
    PROMOE_CHECK(adam_step >= 0, "checkpoint ", path, ": negative adam_step ", adam_step, " in the metadata");
  }
  load_all(file, targets);
  if (opt) opt->step_count = adam_step;
  return s;
}

void load_ema_weights(const std::string& path, nn::DiT& model) {
  io::SafeTensors file = io::read_safetensors(path);
  state_of(file);
  NamedTensors targets;
  for (auto& [name, t] : model.named_parameters()) targets.emplace_back("ema." + name, t);
  if (file.has("ema.pos_embed")) targets.emplace_back("ema.pos_embed", model.pos_embed);  // older files lack it
  load_all(file, targets);
}

}  // namespace promoe::training
