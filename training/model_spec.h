// ModelSpec: the model configurations (moe/model.h) with the string JSON form stored in
// checkpoints and parity cases (docs/CASES.md `config`), and construction from it.
#pragma once
#include <memory>
#include <string>

#include "moe/model.h"

namespace promoe::training {

struct ModelSpec : moe::ModelConfigs {
  static ModelSpec preset(const std::string& name);  // e.g. "ProMoE-S", "Dense-DiT-B", "ProMoE-Tiny"
  // Throws promoe::Error on malformed JSON, an invalid configuration, or a size beyond the
  // plausible bounds (hidden_size 65536, depth 4096, 4096 experts, ...: far above every preset),
  // checked on the JSON before any size arithmetic so no product of claimed sizes can overflow.
  static ModelSpec from_json(const std::string& text);
  // from_json for a configuration stored in the file at `path` (a checkpoint, a parity case),
  // refused unless the file is large enough to hold the model's parameters (2 bytes each at the
  // least): building the model then costs memory in proportion to what the file really holds.
  static ModelSpec from_file(const std::string& text, const std::string& path);
  std::string to_json() const;
  std::shared_ptr<nn::DiT> build(uint64_t seed) const { return moe::make_model(dit, moe, seed); }
};

}  // namespace promoe::training
