// The ProMoE token-choice MoE layer (docs/PROMOE.md §2): conditional routing of null-label tokens to
// the unconditional expert, prototypical cosine routing (top-k, no renormalisation) of the others,
// a shared expert for every token, the routing contrastive loss and the optional load balance.
#pragma once
#include "moe/promoe_layer.h"

namespace promoe::moe {

class ProMoETC : public ProMoELayer {
 public:
  ProMoETC(int64_t dim, const MoeConfig& cfg, int64_t null_label, Generator& gen);

  // u (B, N, D), labels (B) after class dropout -> (B, N, D). With ctx.aux: "rcl.blocks.{i}"
  // (when rcl_lambda > 0) and "lb.blocks.{i}" (when load_balance_coef > 0). With ctx.record:
  // "route.blocks.{i}.idx" / ".w" (B, N, K), slots in descending score order; null-label tokens
  // hold expert E in every slot and weight 1 in slot 0, 0 elsewhere.
  Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) override;
};

}  // namespace promoe::moe
