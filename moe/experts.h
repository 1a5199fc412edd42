// Expert banks: a list of GELU-tanh MLPs registered as children "0", "1", ... (the PyTorch
// nn.ModuleList naming), each with configurable layer names (ProMoE: up_proj/down_proj, the TC/EC
// baselines: fc1/fc2), and the shape-only parameter arithmetic the layers and presets share.
#pragma once
#include <memory>
#include <vector>

#include "moe/dispatch.h"
#include "nn/layers.h"

namespace promoe::moe {

struct ExpertPlacement;  // moe/expert_parallel.h

// Parameters of a layer: all of them, and those one token uses ("activated").
struct ParamCount {
  int64_t total = 0, activated = 0;
};

// Linear(D -> I) + Linear(I -> D), both with bias.
inline int64_t mlp_parameters(int64_t dim, int64_t hidden) { return 2 * dim * hidden + hidden + dim; }

class ExpertList : public Container {
 public:
  // `count` MLPs D -> hidden -> D with Xavier-uniform weights and zero biases (docs/PROMOE.md §1.9).
  ExpertList(int64_t count, int64_t dim, int64_t hidden, Generator& gen, const char* first, const char* second);
  int64_t size() const { return int64_t(mlps.size()); }  // the experts held here
  // The weights in dispatch order (the parameters themselves, so gradients reach them).
  std::vector<ExpertWeights> weights() const;
  // Expert parallelism: keeps only the experts `placement` puts on this rank (its block of the
  // routed ones, and every expert from placement.routed on), removing the others with their
  // parameters; run_experts then exchanges tokens with the other ranks.
  void shard(std::shared_ptr<const ExpertPlacement> placement);

  std::vector<std::shared_ptr<nn::Mlp>> mlps;
  std::vector<int64_t> ids;                          // the bank index of each held expert (its name)
  std::shared_ptr<const ExpertPlacement> placement;  // set once sharded
};

ExpertWeights weights_of(const nn::Mlp& mlp);

// dispatch() of the assignments through the bank, plus the shared expert on every token if there
// is one (in the same grouped calls); through run_experts_sharded (moe/expert_parallel.h) when
// the bank is sharded.
Tensor run_experts(const Tensor& U, const Assignments& a, const ExpertList& experts,
                   const std::shared_ptr<nn::Mlp>& shared);

}  // namespace promoe::moe
