// The ProMoE token-choice MoE layer (PROMOE.md §2): conditional routing of null-label tokens to
// the unconditional expert, prototypical cosine routing (top-k, no renormalisation) of the others,
// a shared expert for every token, the routing contrastive loss and the optional load balance.
#pragma once
#include "moe/config.h"
#include "moe/experts.h"
#include "nn/dit.h"

namespace promoe::moe {

class ProMoETC : public nn::FeedForward {
 public:
  // null_label: the label that marks an unconditional (CFG-dropped) sample. The official code
  // hard-codes 1000, which is num_classes for ImageNet; we use the model's num_classes, so that
  // small-class models route their null class the same way.
  ProMoETC(int64_t dim, const MoeConfig& cfg, int64_t null_label, Generator& gen);

  // u (B, N, D), labels (B) after class dropout -> (B, N, D). With ctx.aux: "rcl.blocks.{i}"
  // (when rcl_lambda > 0) and "lb.blocks.{i}" (when load_balance_coef > 0). With ctx.record:
  // "route.blocks.{i}.idx" / ".w" (B, N, K), slots in descending score order; null-label tokens
  // hold expert E in every slot and weight 1 in slot 0, 0 elsewhere.
  Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) override;
  int64_t activated_parameters() const override { return count(dim, cfg).activated; }

  // Shape-only counts: prototypes + E (+1 uncond) experts + shared; activated = prototypes +
  // top_k experts + shared.
  static ParamCount count(int64_t dim, const MoeConfig& cfg);

  int64_t dim, null_label;
  MoeConfig cfg;
  Tensor& cluster_centers;                 // (E, D) prototypes, ~N(0, 0.02^2)
  std::shared_ptr<ExpertList> experts;     // E routed (+ index E: unconditional), up_proj/down_proj
  std::shared_ptr<nn::Mlp> shared_expert;  // or null
};

}  // namespace promoe::moe
