// The ProMoE expert-choice MoE layer (docs/PROMOE.md §3): null-label images go wholly to the
// unconditional expert (weight 1); within each conditional image every routed expert takes its
// top-`capacity` tokens by activated cosine score (softmax mode: over the image's tokens); the
// shared expert sees every token; the EC routing contrastive loss compares each image's expert
// centroids with the prototypes.
#pragma once
#include "moe/promoe_layer.h"

namespace promoe::moe {

class ProMoEEC : public ProMoELayer {
 public:
  ProMoEEC(int64_t dim, const MoeConfig& cfg, int64_t null_label, Generator& gen);

  // u (B, N, D), labels (B) -> (B, N, D). With ctx.aux and rcl_lambda > 0: "rcl.blocks.{i}" (0 when
  // no image is conditional or E = 1). With ctx.record: "route.blocks.{i}.idx" / ".w" (B, E, capacity):
  // token indices 0..N-1 and gate values in descending score order; null-label images: -1 and 0.
  Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) override;
};

}  // namespace promoe::moe
