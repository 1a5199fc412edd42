// MoeConfig: the `moe` object of a model configuration (docs/CASES.md), its JSON form, and
// the checks that reject a bad configuration before any tensor is built.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace promoe::moe {

// promoe_tc: ProMoE token choice (docs/PROMOE.md §2); promoe_ec: ProMoE expert choice (§3);
// tc: DiT-MoE / TC-DiT baseline (linear softmax gate, top-k); ec: EC-DiT baseline (per-image
// expert choice over a linear softmax gate).
enum class MoeType { ProMoeTC, ProMoeEC, TC, EC };
// Activation of the ProMoE cosine scores (§2.4). For expert choice, softmax runs over an image's
// tokens, not over experts (§3).
enum class RouterWeightMode { Identity, Softmax, Sigmoid };

const char* type_name(MoeType t);
const char* mode_name(RouterWeightMode m);
MoeType parse_type(const std::string& s);           // throws promoe::Error listing the valid names
RouterWeightMode parse_mode(const std::string& s);  // throws promoe::Error listing the valid names

struct MoeConfig {
  MoeType type = MoeType::ProMoeTC;
  int64_t num_experts = 12;  // routed experts E (the unconditional expert is extra)
  // Token choice: experts per token. Expert choice: the capacity factor (capacity() below).
  int64_t top_k = 1;
  bool interleave = true;  // MoE in the odd blocks only; else in every block
  bool use_uncond_expert = true;
  bool use_shared_expert = true;
  int64_t moe_intermediate_size = 768;            // I: width of each routed/uncond expert
  int64_t shared_expert_intermediate_size = 768;  // Is: width of the shared expert
  RouterWeightMode router_weight_mode = RouterWeightMode::Identity;
  double rcl_temperature = 0.07;  // tau
  double rcl_lambda = 1.0;        // lambda_RCL; 0 turns the routing contrastive loss off
  bool rcl_use_topk = true;       // a token counts toward every expert of its top-k (false: slot 0)
  double load_balance_coef = 0.0;
  bool norm_topk_prob = false;  // tc baseline only: renormalise the top-k softmax weights
  int64_t capacity = 0;         // expert choice: optional, must equal capacity(N) when set

  // Expert choice: tokens each expert takes per image, max(1, min(floor(N / E * top_k), N)).
  int64_t ec_capacity(int64_t tokens) const;
  bool is_expert_choice() const { return type == MoeType::ProMoeEC || type == MoeType::EC; }
  bool is_promoe() const { return type == MoeType::ProMoeTC || type == MoeType::ProMoeEC; }
  bool has_uncond_expert() const { return is_promoe() && use_uncond_expert; }
  // Expert MLPs in the `experts` list: E routed, plus the unconditional one for ProMoE.
  int64_t num_expert_mlps() const { return num_experts + (has_uncond_expert() ? 1 : 0); }
  bool block_is_moe(int64_t block) const { return !interleave || block % 2 == 1; }

  // Throws promoe::Error naming the field for: zero/negative experts, top_k < 1, top_k > E for
  // token choice, non-positive widths, tau <= 0, negative lambda or load-balance coefficient, a
  // `capacity` that contradicts the formula, non-positive hidden size or token count.
  void validate(int64_t hidden_size, int64_t tokens) const;
};

// docs/CASES.md field names. Missing fields keep the defaults above; unknown strings and wrongly typed
// values throw promoe::Error.
MoeConfig from_json(const nlohmann::json& j);
nlohmann::json to_json(const MoeConfig& c);

}  // namespace promoe::moe
