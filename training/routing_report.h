// Routing analysis of a model on real data: a fixed set of examples of every class (plus null-label
// copies, so the unconditional expert shows) noised to one level, routed, and summarised by
// moe::RoutingStats. Used by `promoe train` (every --routing-every steps and at the end) and
// `promoe routing`.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "moe/routing_stats.h"
#include "training/model_spec.h"

namespace promoe::training {

struct RoutingAnalysis {
  int64_t per_class = 32;  // examples of each class
  double sigma = 0.5;      // RF noise level of the inputs (model time 1000·σ)
  uint64_t seed = 0;
};

// images (N, C, H, W), labels (N); returns stats including the prototype similarities. Runs the
// model in eval mode (no class dropout) and restores its mode.
moe::RoutingStats analyse_routing(nn::DiT& model, const ModelSpec& spec, const Tensor& images, const Tensor& labels,
                                  const RoutingAnalysis& options = {});

// Per MoE block: {"block", "mutual_information", "normalised_mi", "null_to_uncond" (null without an
// unconditional expert)}, as moe/specialisation.h computes them.
nlohmann::json specialisation_json(const moe::RoutingStats& stats);

// Writes into `dir`: routing.json (load, weight statistics, specialisation per block), and per block
// class_expert_block{i}.csv/.png (rows: classes then the null class; columns: experts, the last
// one unconditional for ProMoE) and prototypes_block{i}.csv/.png.
void write_routing_report(const moe::RoutingStats& stats, const std::string& dir,
                          const std::vector<std::string>& class_names);

}  // namespace promoe::training
