// ModelSpec string JSON.
#include "training/model_spec.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "io/checked_size.h"

namespace promoe::training {

namespace {

using json = nlohmann::json;

// The largest value each size field may claim.
const std::map<std::string, double>& dit_limits() {
  static const std::map<std::string, double> m = {{"input_size", 4096},   {"in_channels", 4096},   {"patch_size", 64},
                                                  {"hidden_size", 65536}, {"depth", 4096},         {"num_heads", 65536},
                                                  {"mlp_ratio", 64},      {"num_classes", 1 << 24}};
  return m;
}
const std::map<std::string, double>& moe_limits() {
  static const std::map<std::string, double> m = {{"num_experts", 4096},
                                                  {"top_k", 4096},
                                                  {"moe_intermediate_size", 1 << 20},
                                                  {"shared_expert_intermediate_size", 1 << 20},
                                                  {"capacity", 1 << 24}};
  return m;
}

void check_limits(const json& j, const std::map<std::string, double>& limits, const char* where) {
  if (!j.is_object()) return;  // configs_from_json names the problem
  for (const auto& [key, limit] : limits) {
    if (!j.contains(key) || !j.at(key).is_number()) continue;  // missing or mistyped: named later
    const double v = j.at(key).get<double>();
    PROMOE_CHECK(std::isfinite(v) && std::fabs(v) <= limit, where, ": field '", key, "' = ", j.at(key).dump(),
                 " is outside the plausible range [-", limit, ", ", limit, "]");
  }
}

}  // namespace

ModelSpec ModelSpec::preset(const std::string& name) { return {moe::preset(name)}; }

ModelSpec ModelSpec::from_file(const std::string& text, const std::string& path) {
  ModelSpec spec = from_json(text);
  const moe::ParamCount count = moe::count_parameters(spec.dit, spec.moe);
  // pos_embed is fixed, not stored by every file (parity cases may omit it).
  const uint64_t params = uint64_t(count.total - spec.dit.tokens() * spec.dit.hidden_size);
  std::error_code ec;
  const uint64_t bytes = std::filesystem::file_size(path, ec);
  const uint64_t need = io::checked_bytes(params, 2, "file " + path + ": model configuration");
  PROMOE_CHECK(!ec && bytes >= need, "file ", path, ": its model configuration has ", params,
               " parameters, more than its ", ec ? 0 : bytes, " bytes can hold");
  return spec;
}

ModelSpec ModelSpec::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    PROMOE_FAIL("model config is not valid JSON: ", e.what());
  }
  check_limits(j, dit_limits(), "model config");
  if (j.is_object() && j.contains("moe")) check_limits(j.at("moe"), moe_limits(), "moe config");
  return {moe::configs_from_json(j)};
}

std::string ModelSpec::to_json() const { return moe::configs_to_json(dit, moe).dump(); }

}  // namespace promoe::training
