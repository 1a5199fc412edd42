// Preset table.
#include "moe/presets.h"

#include <functional>
#include <map>

namespace promoe::moe {

namespace {

nn::DiTConfig imagenet(int64_t hidden, int64_t depth, int64_t heads) {
  nn::DiTConfig c;  // 32x32x4 latents, patch 2, 1000 classes, learn_sigma, dropout 0.1
  c.hidden_size = hidden;
  c.depth = depth;
  c.num_heads = heads;
  return c;
}

nn::DiTConfig fashion() {
  nn::DiTConfig c;
  c.input_size = 32;
  c.in_channels = 1;
  c.patch_size = 4;
  c.hidden_size = 128;
  c.depth = 6;
  c.num_heads = 4;
  c.num_classes = 10;
  return c;
}

// ProMoE defaults (configs/004_ProMoE_*.yaml): 12 routed + uncond + shared, top-1, width 2D,
// identity scores, RCL tau 0.07 lambda 1 over the top-k, no load balance.
MoeConfig promoe(int64_t hidden, int64_t experts = 12, MoeType type = MoeType::ProMoeTC) {
  MoeConfig m;
  m.type = type;
  m.num_experts = experts;
  m.moe_intermediate_size = m.shared_expert_intermediate_size = 2 * hidden;
  return m;
}

// TC-DiT / EC-DiT baselines: full-width (4D) GELU experts, no shared or uncond expert, top-1;
// token choice uses the hard-coded load balance 0.01 of MoEGate.
MoeConfig baseline(int64_t hidden, int64_t experts, MoeType type) {
  MoeConfig m;
  m.type = type;
  m.num_experts = experts;
  m.use_uncond_expert = m.use_shared_expert = false;
  m.moe_intermediate_size = 4 * hidden;
  m.shared_expert_intermediate_size = 0;
  m.router_weight_mode = RouterWeightMode::Softmax;
  m.rcl_lambda = 0;
  m.rcl_use_topk = false;
  m.load_balance_coef = type == MoeType::TC ? 0.01 : 0.0;
  return m;
}

const std::map<std::string, std::function<ModelConfigs()>>& table() {
  static const std::map<std::string, std::function<ModelConfigs()>> t = {
      {"ProMoE-S",
       [] {
         return ModelConfigs{imagenet(384, 12, 6), promoe(384)};
       }},
      {"ProMoE-B",
       [] {
         return ModelConfigs{imagenet(768, 12, 12), promoe(768)};
       }},
      {"ProMoE-L",
       [] {
         return ModelConfigs{imagenet(1024, 24, 16), promoe(1024)};
       }},
      {"ProMoE-XL",
       [] {
         return ModelConfigs{imagenet(1152, 28, 16), promoe(1152)};
       }},
      {"ProMoE-EC-L",
       [] {
         return ModelConfigs{imagenet(1024, 24, 16), promoe(1024, 12, MoeType::ProMoeEC)};
       }},
      {"Dense-DiT-S",
       [] {
         return ModelConfigs{imagenet(384, 12, 6), std::nullopt};
       }},
      {"Dense-DiT-B",
       [] {
         return ModelConfigs{imagenet(768, 12, 12), std::nullopt};
       }},
      {"Dense-DiT-L",
       [] {
         return ModelConfigs{imagenet(1024, 24, 16), std::nullopt};
       }},
      {"Dense-DiT-XL",
       [] {
         return ModelConfigs{imagenet(1152, 28, 16), std::nullopt};
       }},
      {"TCDiT-L-E8",
       [] {
         return ModelConfigs{imagenet(1024, 24, 16), baseline(1024, 8, MoeType::TC)};
       }},
      {"ECDiT-L-E8",
       [] {
         return ModelConfigs{imagenet(1024, 24, 16), baseline(1024, 8, MoeType::EC)};
       }},
      {"ProMoE-Tiny",
       [] {
         return ModelConfigs{fashion(), promoe(128, 8)};
       }},
      {"ProMoE-EC-Tiny",
       [] {
         return ModelConfigs{fashion(), promoe(128, 8, MoeType::ProMoeEC)};
       }},
      {"TC-Tiny",
       [] {
         return ModelConfigs{fashion(), baseline(128, 8, MoeType::TC)};
       }},
      {"EC-Tiny",
       [] {
         return ModelConfigs{fashion(), baseline(128, 8, MoeType::EC)};
       }},
      {"Dense-Tiny",
       [] {
         return ModelConfigs{fashion(), std::nullopt};
       }},
  };
  return t;
}

}  // namespace

ModelConfigs preset(const std::string& name) {
  auto it = table().find(name);
  if (it == table().end()) {
    std::string valid;
    for (const std::string& n : preset_names()) valid += (valid.empty() ? "" : ", ") + n;
    PROMOE_FAIL("unknown preset '", name, "' (valid: ", valid, ")");
  }
  return it->second();
}

std::vector<std::string> preset_names() {
  // Paper models first, then the CPU presets.
  return {"ProMoE-S",       "ProMoE-B",    "ProMoE-L",     "ProMoE-XL",  "ProMoE-EC-L", "Dense-DiT-S",
          "Dense-DiT-B",    "Dense-DiT-L", "Dense-DiT-XL", "TCDiT-L-E8", "ECDiT-L-E8",  "ProMoE-Tiny",
          "ProMoE-EC-Tiny", "TC-Tiny",     "EC-Tiny",      "Dense-Tiny"};
}

}  // namespace promoe::moe
