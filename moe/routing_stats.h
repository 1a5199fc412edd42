// Routing analytics: what the routers did over one or more recorded forward passes. Per MoE block:
// the load of every expert, a class x expert assignment matrix, statistics of the routing weights
// of routed experts, and the cosine similarities between the prototypes (ProMoE). Built from the
// routes (nn::RouteRecord per block) a forward pass leaves in ForwardContext::routes (ctx.record).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "moe/config.h"
#include "nn/dit.h"

namespace promoe::moe {

struct BlockRouting {
  int64_t block = 0;
  std::vector<double> load;                       // (experts incl. the unconditional one) assignments
  std::vector<std::vector<double>> class_expert;  // (num_classes + 1 null) x experts assignments
  double weight_sum = 0, weight_sq_sum = 0, weight_min = 0, weight_max = 0;
  int64_t weight_count = 0;  // routed (not unconditional) assignments
  Tensor prototype_cosine;   // (E, E) for ProMoE blocks, undefined otherwise
};

class RoutingStats {
 public:
  // tokens: tokens per image (unconditional images of expert choice send all of them to expert E).
  RoutingStats(const MoeConfig& cfg, int64_t num_classes, int64_t tokens);
  // Adds one recorded pass: ctx.routes from a forward with ctx.record set, ctx.used_labels its labels.
  void add(const nn::ForwardContext& ctx);
  // Reads the prototypes (cluster_centers) of every ProMoE block.
  void set_prototypes(const nn::DiT& model);
  const std::map<int64_t, BlockRouting>& blocks() const { return blocks_; }

  const MoeConfig& config() const { return cfg_; }
  int64_t num_classes() const { return num_classes_; }

 private:
  MoeConfig cfg_;
  int64_t num_classes_, tokens_;
  std::map<int64_t, BlockRouting> blocks_;
};

}  // namespace promoe::moe
