// ProMoE layer parameters.
#include "moe/promoe_layer.h"

#include "nn/init.h"

namespace promoe::moe {

ProMoELayer::ProMoELayer(int64_t d, const MoeConfig& c, int64_t null, Generator& gen)
    : dim(d),
      null_label(null),
      cfg(c),
      cluster_centers(register_parameter("cluster_centers", raw::zeros({c.num_experts, d}))) {
  PROMOE_CHECK(c.is_promoe(), "ProMoE layer: config type is ", type_name(c.type));
  nn::init::normal(cluster_centers, gen, 0.02);
  experts = register_module("experts", std::make_shared<ExpertList>(c.num_expert_mlps(), d, c.moe_intermediate_size,
                                                                    gen, "up_proj", "down_proj"));
  if (c.use_shared_expert)
    shared_expert = register_module(
        "shared_expert", std::make_shared<nn::Mlp>(d, c.shared_expert_intermediate_size, gen, "up_proj", "down_proj"));
}

ParamCount ProMoELayer::count(int64_t dim, const MoeConfig& cfg) {
  const int64_t protos = cfg.num_experts * dim, expert = mlp_parameters(dim, cfg.moe_intermediate_size);
  const int64_t shared = cfg.use_shared_expert ? mlp_parameters(dim, cfg.shared_expert_intermediate_size) : 0;
  return {protos + cfg.num_expert_mlps() * expert + shared, protos + cfg.top_k * expert + shared};
}

}  // namespace promoe::moe
