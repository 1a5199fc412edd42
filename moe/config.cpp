// MoeConfig parsing, serialisation and validation.
#include "moe/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace promoe::moe {

using json = nlohmann::json;

const char* type_name(MoeType t) {
  switch (t) {
    case MoeType::ProMoeTC:
      return "promoe_tc";
    case MoeType::ProMoeEC:
      return "promoe_ec";
    case MoeType::TC:
      return "tc";
    case MoeType::EC:
      return "ec";
  }
  return "?";
}

const char* mode_name(RouterWeightMode m) {
  switch (m) {
    case RouterWeightMode::Identity:
      return "identity";
    case RouterWeightMode::Softmax:
      return "softmax";
    case RouterWeightMode::Sigmoid:
      return "sigmoid";
  }
  return "?";
}

MoeType parse_type(const std::string& s) {
  for (MoeType t : {MoeType::ProMoeTC, MoeType::ProMoeEC, MoeType::TC, MoeType::EC})
    if (s == type_name(t)) return t;
  PROMOE_FAIL("moe config: unknown type '", s, "' (valid: promoe_tc, promoe_ec, tc, ec)");
}

RouterWeightMode parse_mode(const std::string& s) {
  for (RouterWeightMode m : {RouterWeightMode::Identity, RouterWeightMode::Softmax, RouterWeightMode::Sigmoid})
    if (s == mode_name(m)) return m;
  PROMOE_FAIL("moe config: unknown router_weight_mode '", s, "' (valid: identity, softmax, sigmoid)");
}

int64_t MoeConfig::ec_capacity(int64_t tokens) const {
  // floor((N / E) * top_k) in double, as the official int((S / E) * capacity).
  const double raw = double(tokens) / double(num_experts) * double(top_k);
  return std::max<int64_t>(1, std::min<int64_t>(int64_t(std::floor(raw)), tokens));
}

void MoeConfig::validate(int64_t hidden_size, int64_t tokens) const {
  PROMOE_CHECK(hidden_size > 0, "moe config: hidden_size must be positive, got ", hidden_size);
  PROMOE_CHECK(tokens > 0, "moe config: the number of tokens must be positive, got ", tokens);
  PROMOE_CHECK(num_experts >= 1, "moe config: num_experts must be at least 1, got ", num_experts);
  PROMOE_CHECK(top_k >= 1, "moe config: top_k must be at least 1, got ", top_k);
  if (!is_expert_choice())
    PROMOE_CHECK(top_k <= num_experts, "moe config: top_k = ", top_k, " exceeds num_experts = ", num_experts,
                 " (token choice picks top_k distinct routed experts)");
  PROMOE_CHECK(moe_intermediate_size > 0, "moe config: moe_intermediate_size must be positive, got ",
               moe_intermediate_size);
  if (use_shared_expert)
    PROMOE_CHECK(shared_expert_intermediate_size > 0,
                 "moe config: shared_expert_intermediate_size must be positive with use_shared_expert, got ",
                 shared_expert_intermediate_size);
  PROMOE_CHECK(std::isfinite(rcl_lambda) && rcl_lambda >= 0, "moe config: rcl_lambda must be >= 0, got ", rcl_lambda);
  PROMOE_CHECK(std::isfinite(load_balance_coef) && load_balance_coef >= 0,
               "moe config: load_balance_coef must be >= 0, got ", load_balance_coef);
  PROMOE_CHECK(std::isfinite(rcl_temperature) && rcl_temperature > 0,
               "moe config: rcl_temperature must be positive, got ", rcl_temperature);
  PROMOE_CHECK(capacity >= 0, "moe config: capacity must be >= 0 (0 = derived), got ", capacity);
  if (is_expert_choice() && capacity > 0)
    PROMOE_CHECK(capacity == ec_capacity(tokens), "moe config: capacity = ", capacity,
                 " contradicts max(1, min(floor(N / E * top_k), N)) = ", ec_capacity(tokens), " for N = ", tokens,
                 ", E = ", num_experts, ", top_k = ", top_k);
  if (is_expert_choice())
    PROMOE_CHECK(load_balance_coef == 0, "moe config: load_balance_coef applies to token choice only, got ",
                 load_balance_coef, " for type ", type_name(type));
  if (!is_promoe())
    PROMOE_CHECK(rcl_lambda == 0, "moe config: the routing contrastive loss needs prototypes (promoe_tc or ",
                 "promoe_ec), got rcl_lambda = ", rcl_lambda, " for type ", type_name(type));
}

namespace {

template <typename T>
void read(const json& j, const char* key, T& out) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  const json& v = j.at(key);
  try {
    if constexpr (std::is_same_v<T, bool>) {
      PROMOE_CHECK(v.is_boolean(), "moe config: field '", key, "' must be true or false, got ", v.dump());
      out = v.get<bool>();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      PROMOE_CHECK(v.is_number(), "moe config: field '", key, "' must be an integer, got ", v.dump());
      double d = v.get<double>();
      PROMOE_CHECK(d == std::floor(d), "moe config: field '", key, "' must be an integer, got ", v.dump());
      out = int64_t(d);
    } else if constexpr (std::is_same_v<T, double>) {
      PROMOE_CHECK(v.is_number(), "moe config: field '", key, "' must be a number, got ", v.dump());
      out = v.get<double>();
    } else {
      PROMOE_CHECK(v.is_string(), "moe config: field '", key, "' must be a string, got ", v.dump());
      out = v.get<std::string>();
    }
  } catch (const json::exception& e) {
    PROMOE_FAIL("moe config: field '", key, "': ", e.what());
  }
}

}  // namespace

MoeConfig from_json(const json& j) {
  PROMOE_CHECK(j.is_object(), "moe config: expected a JSON object, got ", j.dump());
  MoeConfig c;
  std::string type = type_name(c.type), mode = mode_name(c.router_weight_mode);
  read(j, "type", type);
  c.type = parse_type(type);
  read(j, "num_experts", c.num_experts);
  read(j, "top_k", c.top_k);
  read(j, "interleave", c.interleave);
  read(j, "use_uncond_expert", c.use_uncond_expert);
  read(j, "use_shared_expert", c.use_shared_expert);
  read(j, "moe_intermediate_size", c.moe_intermediate_size);
  read(j, "shared_expert_intermediate_size", c.shared_expert_intermediate_size);
  read(j, "router_weight_mode", mode);
  c.router_weight_mode = parse_mode(mode);
  read(j, "rcl_temperature", c.rcl_temperature);
  if (!c.is_promoe()) c.rcl_lambda = 0;  // baselines have no prototypes; an explicit value is validated
  read(j, "rcl_lambda", c.rcl_lambda);
  read(j, "rcl_use_topk", c.rcl_use_topk);
  read(j, "load_balance_coef", c.load_balance_coef);
  read(j, "norm_topk_prob", c.norm_topk_prob);
  read(j, "capacity", c.capacity);
  return c;
}

json to_json(const MoeConfig& c) {
  json j = {{"type", type_name(c.type)},
            {"num_experts", c.num_experts},
            {"top_k", c.top_k},
            {"interleave", c.interleave},
            {"use_uncond_expert", c.use_uncond_expert},
            {"use_shared_expert", c.use_shared_expert},
            {"moe_intermediate_size", c.moe_intermediate_size},
            {"shared_expert_intermediate_size", c.shared_expert_intermediate_size},
            {"router_weight_mode", mode_name(c.router_weight_mode)},
            {"rcl_temperature", c.rcl_temperature},
            {"rcl_lambda", c.rcl_lambda},
            {"rcl_use_topk", c.rcl_use_topk},
            {"load_balance_coef", c.load_balance_coef},
            {"norm_topk_prob", c.norm_topk_prob}};
  if (c.capacity > 0) j["capacity"] = c.capacity;
  return j;
}

}  // namespace promoe::moe
