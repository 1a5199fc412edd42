// The token-choice baseline (DiT-MoE / TC-DiT, official models_TCDiT.py): a bias-free linear gate
// with softmax over experts, top-k experts per token (optionally renormalised), full-width GELU
// experts named fc1/fc2, an optional shared expert, and the load-balance loss over all tokens.
#pragma once
#include "moe/config.h"
#include "moe/experts.h"
#include "nn/dit.h"

namespace promoe::moe {

class TokenChoiceMoE : public nn::FeedForward {
 public:
  TokenChoiceMoE(int64_t dim, const MoeConfig& cfg, Generator& gen);

  // u (B, N, D) -> (B, N, D); labels are not used. With ctx.aux and load_balance_coef > 0:
  // "lb.blocks.{i}" = sum_i f_i * P_i (MoEGate, seq_aux off). With ctx.record: route idx / w (B, N, K).
  Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) override;
  int64_t activated_parameters() const override { return count(dim, cfg).activated; }
  // gate + E experts (+ shared); activated = gate + top_k experts (+ shared).
  static ParamCount count(int64_t dim, const MoeConfig& cfg);

  int64_t dim;
  MoeConfig cfg;
  std::shared_ptr<Container> gate;  // holds gate.weight
  Tensor* gate_weight;              // (E, D), Kaiming-uniform(a = sqrt 5) as nn.Linear: U(-1/sqrt(D), 1/sqrt(D))
  std::shared_ptr<ExpertList> experts;
  std::shared_ptr<nn::Mlp> shared_expert;
};

}  // namespace promoe::moe
