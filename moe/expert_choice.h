// The expert-choice baseline (EC-DiT, official models_ECDiT.py): a bias-free gate `gate_weight`
// ~N(0, 0.006^2), softmax over experts, then within each image every expert takes its
// top-`capacity` tokens by that softmax value and scales its output by it. Experts are
// full-width GELU MLPs named fc1/fc2; optional shared expert; no auxiliary loss.
#pragma once
#include "moe/config.h"
#include "moe/experts.h"
#include "nn/dit.h"

namespace promoe::moe {

class ExpertChoiceMoE : public nn::FeedForward {
 public:
  ExpertChoiceMoE(int64_t dim, const MoeConfig& cfg, Generator& gen);

  // u (B, N, D) -> (B, N, D); labels unused. With ctx.record: route idx / w (B, E, capacity).
  Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) override;
  int64_t activated_parameters() const override { return count(dim, cfg).activated; }
  static ParamCount count(int64_t dim, const MoeConfig& cfg);

  int64_t dim;
  MoeConfig cfg;
  Tensor& gate_weight;  // (E, D), the official parameter name "gate_weight"
  std::shared_ptr<ExpertList> experts;
  std::shared_ptr<nn::Mlp> shared_expert;
};

}  // namespace promoe::moe
