// Training checkpoints: one safetensors file holding the model ("model.<name>"), its EMA
// ("ema.<name>", with "ema.pos_embed", the model's fixed buffer), the AdamW moments ("opt.exp_avg.<name>",
// "opt.exp_avg_sq.<name>") and, in the metadata, the model configuration, the step counters and the random generator
// state. Written atomically, so a kill mid-write leaves the previous checkpoint intact. The "ema." and "model." tensors
// carry the official parameter names, so either set loads into the PyTorch model after stripping the prefix (`promoe
// export` writes the "ema." set that way).
#pragma once
#include <string>

#include "io/safetensors.h"
#include "nn/dit.h"
#include "nn/optim.h"
#include "tensor/random.h"

namespace promoe::training {

struct CheckpointState {
  std::string model_config;  // JSON of the model configuration (must match on load)
  std::string train_config;  // JSON of the training options, for the record
  int64_t step = 0;
  uint64_t rng_seed = 0, rng_offset = 0;
};

// Thrown by save_checkpoint when the state holds a NaN or an infinity: nothing was written, the
// checkpoint already at the path (if any) is untouched.
class NonFiniteState : public Error {
 public:
  NonFiniteState(const std::string& what, std::string tensor) : Error(what), tensor(std::move(tensor)) {}
  std::string tensor;  // the first non-finite one, e.g. "model.blocks.0.attn.qkv.weight"
};

// Writes atomically; refuses (NonFiniteState) a state with non-finite weights, EMA or moments.
void save_checkpoint(const std::string& path, const nn::DiT& model, const nn::Ema& ema, const nn::AdamW& opt,
                     const CheckpointState& state);
// save_checkpoint in two parts: the tensors of the file, and writing them (expert parallelism
// gathers the tensors of every rank's experts in between, training/expert_shards.h).
io::NamedTensors checkpoint_tensors(const nn::DiT& model, const nn::Ema& ema, const nn::AdamW& opt);
void write_checkpoint(const std::string& path, const io::NamedTensors& tensors, int64_t adam_step,
                      const CheckpointState& state);
// The file keys of a parameter's tensors: its weight, EMA and the two AdamW moments.
std::vector<std::string> checkpoint_keys(const std::string& parameter);

// Loads into an existing model / EMA / optimizer of the same configuration; throws promoe::Error
// naming the file and the problem (unreadable, truncated, another configuration, missing tensor,
// NaN or infinite values).
CheckpointState load_checkpoint(const std::string& path, nn::DiT& model, nn::Ema* ema, nn::AdamW* opt,
                                const std::string& expected_model_config);

// Reads only the header and its metadata (to rebuild a model of the right configuration before
// loading).
CheckpointState read_checkpoint_state(const std::string& path);
// The state recorded in a checkpoint's metadata; throws unless it is a promoe checkpoint's.
CheckpointState checkpoint_state(const std::string& path, const io::Metadata& meta);

// Copies the EMA weights of a checkpoint into `model` (for sampling), and its pos_embed where the
// file has "ema.pos_embed"; refuses non-finite ones.
void load_ema_weights(const std::string& path, nn::DiT& model);

}  // namespace promoe::training
