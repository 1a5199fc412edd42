// ModelSpec string JSON.
#include "training/model_spec.h"

#include <nlohmann/json.hpp>

namespace promoe::training {

ModelSpec ModelSpec::preset(const std::string& name) { return {moe::preset(name)}; }

ModelSpec ModelSpec::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    PROMOE_FAIL("model config is not valid JSON: ", e.what());
  }
  return {moe::configs_from_json(j)};
}

std::string ModelSpec::to_json() const { return moe::configs_to_json(dit, moe).dump(); }

}  // namespace promoe::training
