// What the two ProMoE layers (token choice, promoe_tc.h; expert choice, promoe_ec.h) share: the
// prototypes, the routed experts plus the unconditional one, the shared expert, and the parameter
// count (docs/PROMOE.md §2.1).
#pragma once
#include "moe/config.h"
#include "moe/experts.h"
#include "nn/dit.h"

namespace promoe::moe {

class ProMoELayer : public nn::FeedForward {
 public:
  // null_label: the label that marks an unconditional (CFG-dropped) sample. The official code
  // hard-codes 1000, which is num_classes for ImageNet; we use the model's num_classes, so that
  // small-class models route their null class the same way.
  ProMoELayer(int64_t dim, const MoeConfig& cfg, int64_t null_label, Generator& gen);

  int64_t activated_parameters() const override { return count(dim, cfg).activated; }
  // Shape-only counts: prototypes + E (+1 uncond) experts + shared; activated = prototypes +
  // top_k experts + shared (for expert choice top_k is the capacity factor: the experts a token
  // visits on average).
  static ParamCount count(int64_t dim, const MoeConfig& cfg);

  int64_t dim, null_label;
  MoeConfig cfg;
  Tensor& cluster_centers;                 // (E, D) prototypes, ~N(0, 0.02^2)
  std::shared_ptr<ExpertList> experts;     // E routed (+ index E: unconditional), up_proj/down_proj
  std::shared_ptr<nn::Mlp> shared_expert;  // or null
};

}  // namespace promoe::moe
