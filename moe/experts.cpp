// Expert banks.
#include "moe/experts.h"

#include <string>

#include "moe/expert_parallel.h"

namespace promoe::moe {

ExpertList::ExpertList(int64_t count, int64_t dim, int64_t hidden, Generator& gen, const char* first,
                       const char* second) {
  for (int64_t e = 0; e < count; ++e) {
    mlps.push_back(add(std::to_string(e), std::make_shared<nn::Mlp>(dim, hidden, gen, first, second)));
    ids.push_back(e);
  }
}

void ExpertList::shard(std::shared_ptr<const ExpertPlacement> where) {
  PROMOE_CHECK(!placement, "ExpertList: already sharded");
  PROMOE_CHECK(where && where->routed <= size(), "ExpertList: a placement of ", where ? where->routed : 0,
               " routed experts for a bank of ", size());
  std::vector<std::shared_ptr<nn::Mlp>> kept;
  std::vector<int64_t> kept_ids;
  for (size_t i = 0; i < mlps.size(); ++i) {
    if (where->holds(ids[i])) {
      kept.push_back(mlps[i]);
      kept_ids.push_back(ids[i]);
    } else {
      remove(std::to_string(ids[i]));
    }
  }
  mlps = std::move(kept);
  ids = std::move(kept_ids);
  placement = std::move(where);
}

std::vector<ExpertWeights> ExpertList::weights() const {
  std::vector<ExpertWeights> w;
  w.reserve(mlps.size());
  for (auto& m : mlps) w.push_back(weights_of(*m));
  return w;
}

ExpertWeights weights_of(const nn::Mlp& mlp) {
  return {mlp.fc1->weight, *mlp.fc1->bias, mlp.fc2->weight, *mlp.fc2->bias};
}

Tensor run_experts(const Tensor& U, const Assignments& a, const ExpertList& experts,
                   const std::shared_ptr<nn::Mlp>& shared) {
  if (experts.placement) return run_experts_sharded(U, a, experts, shared);
  if (!shared) return dispatch(U, a, experts.weights());
  const ExpertWeights s = weights_of(*shared);
  return dispatch(U, a, experts.weights(), &s);
}

}  // namespace promoe::moe
