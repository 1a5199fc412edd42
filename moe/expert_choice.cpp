// Expert-choice baseline.
#include "moe/expert_choice.h"

#include "moe/routing.h"
#include "moe/token_choice.h"
#include "nn/init.h"

namespace promoe::moe {

ExpertChoiceMoE::ExpertChoiceMoE(int64_t d, const MoeConfig& c, Generator& gen)
    : dim(d), cfg(c), gate_weight(register_parameter("gate_weight", raw::zeros({c.num_experts, d}))) {
  PROMOE_CHECK(c.type == MoeType::EC, "ExpertChoiceMoE: config type is ", type_name(c.type));
  nn::init::normal(gate_weight, gen, 0.006);
  experts = register_module("experts",
                            std::make_shared<ExpertList>(c.num_experts, d, c.moe_intermediate_size, gen, "fc1", "fc2"));
  if (c.use_shared_expert)
    shared_expert = register_module(
        "shared_expert", std::make_shared<nn::Mlp>(d, c.shared_expert_intermediate_size, gen, "up_proj", "down_proj"));
}

ParamCount ExpertChoiceMoE::count(int64_t dim, const MoeConfig& cfg) {
  MoeConfig tc = cfg;
  tc.type = MoeType::TC;
  return TokenChoiceMoE::count(dim, tc);
}

Tensor ExpertChoiceMoE::forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) {
  PROMOE_CHECK(u.dim() == 3 && u.size(2) == dim, "ec: input ", describe(u), " is not (B, N, ", dim, ")");
  const int64_t B = u.size(0), N = u.size(1), E = cfg.num_experts, cap = cfg.ec_capacity(N);
  Tensor affinity = transpose(softmax(matmul(u, transpose(gate_weight, 0, 1)), -1), 1, 2);  // (B, E, N)
  raw::ValuesIndices top = topk(affinity, cap, -1);                                         // (B, E, cap)
  std::vector<int64_t> I = top.indices.to_vector<int64_t>(), tok(B * E * cap), ex(B * E * cap);
  for (int64_t a = 0; a < B * E * cap; ++a) {
    tok[a] = (a / (E * cap)) * N + I[a];
    ex[a] = (a / cap) % E;
  }
  Tensor U = reshape(u, {B * N, dim});
  Tensor O = run_experts(U, make_assignments(tok, ex, reshape(top.values, {B * E * cap})), *experts, shared_expert);
  if (ctx.record) add_route_record(ctx, block, I, top.values.to_vector<double>(), {B, E, cap}, u);
  return reshape(O, {B, N, dim});
}

}  // namespace promoe::moe
