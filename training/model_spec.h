// ModelSpec: the model configurations (moe/model.h) with the string JSON form stored in
// checkpoints and parity cases (docs/CASES.md `config`), and construction from it.
#pragma once
#include <memory>
#include <string>

#include "moe/model.h"

namespace promoe::training {

struct ModelSpec : moe::ModelConfigs {
  static ModelSpec preset(const std::string& name);     // e.g. "ProMoE-S", "Dense-DiT-B", "ProMoE-Tiny"
  static ModelSpec from_json(const std::string& text);  // throws promoe::Error on malformed JSON
  std::string to_json() const;
  std::shared_ptr<nn::DiT> build(uint64_t seed) const { return moe::make_model(dit, moe, seed); }
};

}  // namespace promoe::training
