// Token-choice baseline.
#include "moe/token_choice.h"

#include <cmath>

#include "moe/routing.h"
#include "moe/routing_losses.h"
#include "nn/functional.h"

namespace promoe::moe {

namespace {
// A container whose only content is one parameter, so that it reads "gate.weight".
class GateHolder : public Container {
 public:
  GateHolder(int64_t E, int64_t D, Generator& gen) : weight(register_parameter("weight", raw::zeros({E, D}))) {
    const double bound = 1.0 / std::sqrt(double(D));  // kaiming_uniform_(a = sqrt(5)) on (E, D)
    raw::copy_(weight, gen.uniform(weight.shape(), -bound, bound, weight.dtype()));
  }
  Tensor& weight;
};
}  // namespace

TokenChoiceMoE::TokenChoiceMoE(int64_t d, const MoeConfig& c, Generator& gen) : dim(d), cfg(c) {
  PROMOE_CHECK(c.type == MoeType::TC, "TokenChoiceMoE: config type is ", type_name(c.type));
  auto g = std::make_shared<GateHolder>(c.num_experts, d, gen);
  gate = register_module("gate", g);
  gate_weight = &g->weight;
  experts = register_module("experts",
                            std::make_shared<ExpertList>(c.num_experts, d, c.moe_intermediate_size, gen, "fc1", "fc2"));
  if (c.use_shared_expert)
    shared_expert = register_module(
        "shared_expert", std::make_shared<nn::Mlp>(d, c.shared_expert_intermediate_size, gen, "up_proj", "down_proj"));
}

ParamCount TokenChoiceMoE::count(int64_t dim, const MoeConfig& cfg) {
  const int64_t gate = cfg.num_experts * dim, expert = mlp_parameters(dim, cfg.moe_intermediate_size);
  const int64_t shared = cfg.use_shared_expert ? mlp_parameters(dim, cfg.shared_expert_intermediate_size) : 0;
  return {gate + cfg.num_experts * expert + shared, gate + cfg.top_k * expert + shared};
}

Tensor TokenChoiceMoE::forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) {
  PROMOE_CHECK(u.dim() == 3 && u.size(2) == dim, "tc: input ", describe(u), " is not (B, N, ", dim, ")");
  const int64_t B = u.size(0), N = u.size(1), T = B * N, K = cfg.top_k;
  Tensor U = reshape(u, {T, dim});
  Tensor scores = softmax(nn::linear(U, *gate_weight, Tensor()), 1);  // (T, E)
  raw::ValuesIndices top = topk(scores, K, 1);                        // (T, K), descending
  Tensor G = top.values;
  if (K > 1 && cfg.norm_topk_prob) G = G / (sum(G, {1}, true) + 1e-20);
  Tensor O = run_experts(U, from_slots(top.indices, G), *experts, shared_expert);

  if (ctx.aux && cfg.load_balance_coef > 0) {
    const std::vector<int64_t> assigned = top.indices.to_vector<int64_t>();
    Tensor lb = ctx.replica_sum ? load_balance_loss_global(scores, assigned, cfg.num_experts, *ctx.replica_sum,
                                                           u.dtype(), u.device())
                                : load_balance_loss(scores, assigned);
    add_aux_loss(ctx, "lb", block, lb, cfg.load_balance_coef);
  }
  if (ctx.record) add_route_record(ctx, block, top.indices.to_vector<int64_t>(), G.to_vector<double>(), {B, N, K}, u);
  return reshape(O, {B, N, dim});
}

}  // namespace promoe::moe
