// Model construction, configuration JSON and shape-only parameter counts.
#include "moe/model.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "moe/expert_choice.h"
#include "moe/promoe_ec.h"
#include "moe/promoe_tc.h"
#include "moe/token_choice.h"

namespace promoe::moe {

using json = nlohmann::json;

namespace {

int64_t dense_hidden(const nn::DiTConfig& dit) { return int64_t(double(dit.hidden_size) * dit.mlp_ratio); }

void validate(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe) {
  dit.validate();
  if (moe) moe->validate(dit.hidden_size, dit.tokens());
}

template <typename T>
void get(const json& j, const char* key, T& out, bool required) {
  if (!j.contains(key)) {
    PROMOE_CHECK(!required, "model config: missing field '", key, "'");
    return;
  }
  try {
    if constexpr (std::is_same_v<T, int64_t>) {
      double d = j.at(key).get<double>();
      PROMOE_CHECK(d == std::floor(d), "model config: field '", key, "' must be an integer, got ", j.at(key).dump());
      out = int64_t(d);
    } else {
      out = j.at(key).get<T>();
    }
  } catch (const json::exception& e) {
    PROMOE_FAIL("model config: field '", key, "' has the wrong type (", j.at(key).dump(), "): ", e.what());
  }
}

}  // namespace

ModelConfigs configs_from_json(const json& j) {
  PROMOE_CHECK(j.is_object(), "model config: expected a JSON object, got ", j.dump());
  ModelConfigs c;
  get(j, "input_size", c.dit.input_size, true);
  get(j, "in_channels", c.dit.in_channels, true);
  get(j, "patch_size", c.dit.patch_size, true);
  get(j, "hidden_size", c.dit.hidden_size, true);
  get(j, "depth", c.dit.depth, true);
  get(j, "num_heads", c.dit.num_heads, true);
  get(j, "mlp_ratio", c.dit.mlp_ratio, false);
  get(j, "num_classes", c.dit.num_classes, true);
  get(j, "learn_sigma", c.dit.learn_sigma, false);
  get(j, "class_dropout_prob", c.dit.class_dropout_prob, false);
  if (j.contains("moe") && !j.at("moe").is_null()) c.moe = from_json(j.at("moe"));
  validate(c.dit, c.moe);
  return c;
}

json configs_to_json(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe) {
  json j = {{"input_size", dit.input_size},
            {"in_channels", dit.in_channels},
            {"patch_size", dit.patch_size},
            {"hidden_size", dit.hidden_size},
            {"depth", dit.depth},
            {"num_heads", dit.num_heads},
            {"mlp_ratio", dit.mlp_ratio},
            {"num_classes", dit.num_classes},
            {"learn_sigma", dit.learn_sigma},
            {"class_dropout_prob", dit.class_dropout_prob}};
  if (moe) j["moe"] = to_json(*moe);
  return j;
}

std::shared_ptr<nn::FeedForward> make_moe_layer(const nn::DiTConfig& dit, const MoeConfig& cfg, Generator& gen) {
  const int64_t D = dit.hidden_size;
  switch (cfg.type) {
    case MoeType::ProMoeTC:
      return std::make_shared<ProMoETC>(D, cfg, dit.num_classes, gen);
    case MoeType::ProMoeEC:
      return std::make_shared<ProMoEEC>(D, cfg, dit.num_classes, gen);
    case MoeType::TC:
      return std::make_shared<TokenChoiceMoE>(D, cfg, gen);
    case MoeType::EC:
      return std::make_shared<ExpertChoiceMoE>(D, cfg, gen);
  }
  PROMOE_FAIL("make_moe_layer: unknown MoE type");
}

nn::FeedForwardFactory make_feed_forward_factory(const nn::DiTConfig& dit, const MoeConfig& cfg) {
  return [dit, cfg](int64_t block, Generator& gen) -> std::shared_ptr<nn::FeedForward> {
    if (cfg.block_is_moe(block)) return make_moe_layer(dit, cfg, gen);
    return std::make_shared<nn::DenseFeedForward>(dit.hidden_size, dense_hidden(dit), gen);
  };
}

std::shared_ptr<nn::DiT> make_model(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe, uint64_t seed) {
  validate(dit, moe);
  if (!moe) return std::make_shared<nn::DiT>(dit, seed);
  return std::make_shared<nn::DiT>(dit, seed, make_feed_forward_factory(dit, *moe));
}

ParamCount moe_layer_count(int64_t dim, const MoeConfig& cfg) {
  switch (cfg.type) {
    case MoeType::ProMoeTC:
    case MoeType::ProMoeEC:
      return ProMoELayer::count(dim, cfg);
    case MoeType::TC:
      return TokenChoiceMoE::count(dim, cfg);
    case MoeType::EC:
      return ExpertChoiceMoE::count(dim, cfg);
  }
  PROMOE_FAIL("moe_layer_count: unknown MoE type");
}

ParamCount count_parameters(const nn::DiTConfig& dit, const std::optional<MoeConfig>& moe) {
  const int64_t D = dit.hidden_size, p = dit.patch_size, C = dit.in_channels, N = dit.tokens();
  const int64_t out = p * p * dit.out_channels();
  const int64_t freq = 256;                         // timestep frequency embedding size (nn::TimestepEmbedder default)
  int64_t shared = N * D;                           // pos_embed (fixed, counted as the official code)
  shared += D * C * p * p + D;                      // x_embedder.proj
  shared += (freq * D + D) + (D * D + D);           // t_embedder.mlp.0, .2
  shared += (dit.num_classes + 1) * D;              // y_embedder table (+ null row)
  shared += (2 * D * D + 2 * D) + (out * D + out);  // final_layer adaLN and linear
  const int64_t block = (6 * D * D + 6 * D) + (3 * D * D + 3 * D) + (D * D + D);  // adaLN, qkv, proj
  const int64_t dense = mlp_parameters(D, dense_hidden(dit));
  ParamCount c{shared, shared};
  for (int64_t i = 0; i < dit.depth; ++i) {
    ParamCount ffn = moe && moe->block_is_moe(i) ? moe_layer_count(D, *moe) : ParamCount{dense, dense};
    c.total += block + ffn.total;
    c.activated += block + ffn.activated;
  }
  return c;
}

}  // namespace promoe::moe
