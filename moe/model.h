// Building whole models: a DiT whose feed-forward is a MoE layer in the MoE blocks (the odd ones
// with interleave, else all) and the dense GELU MLP elsewhere; the docs/CASES.md `config` JSON of a
// model; and parameter counts computed from shapes alone (no allocation), which the layers'
// activated_parameters() share.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "moe/config.h"
#include "moe/experts.h"
#include "nn/dit.h"

namespace promoe::moe {

// A model configuration: the backbone and, for a MoE model, its `moe` object.
struct ModelConfigs {
  nn::DiTConfig dit;
  std::optional<MoeConfig> moe;
};

using Preset = ModelConfigs;

// Named presets (moe/presets.cpp lists them). Throws promoe::Error listing the valid names.
ModelConfigs preset(const std::string& name);
std::vector<std::string> preset_names();

// docs/CASES.md `config`: input_size, in_channels, patch_size, hidden_size, depth, num_heads, mlp_ratio,
// num_classes, learn_sigma, optional class_dropout_prob, optional `moe`. Validates both parts.
ModelConfigs configs_from_json(const nlohmann::json& j);
nlohmann::json configs_to_json(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe);

// The MoE layer of one block for `cfg`; the null label is dit.num_classes (see ProMoETC).
std::shared_ptr<nn::FeedForward> make_moe_layer(const nn::DiTConfig& dit, const MoeConfig& cfg, Generator& gen);
// Feed-forward of block i: the MoE layer where cfg.block_is_moe(i), else the dense Mlp (fc1/fc2).
nn::FeedForwardFactory make_feed_forward_factory(const nn::DiTConfig& dit, const MoeConfig& cfg);

// Validates the configuration (promoe::Error before any allocation), then builds the model.
std::shared_ptr<nn::DiT> make_model(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe, uint64_t seed);

// Shape-only counts of one MoE layer (by type) and of a whole model. Model totals include the
// fixed N*D pos_embed, as the official count does; activated = total minus the experts a token
// does not visit (equals DiT::activated_parameters() of the built model).
ParamCount moe_layer_count(int64_t dim, const MoeConfig& cfg);
ParamCount count_parameters(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe);

// Matrix-product FLOPs of one training step (moe/model_flops.cpp): forward FLOPs (2 per
// multiply-add) times 3 for forward + backward, counting what runs per token (patch embedding, qkv
// and output projections, the attention products, MLPs or the experts each token visits plus the
// shared expert and the router, the final linear) and per image (the adaLN projections).
// Elementwise work is not counted, as MFU conventions do.
double training_step_flops(const ModelConfigs& configs, int64_t batch);

}  // namespace promoe::moe
