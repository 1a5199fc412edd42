// Expert banks.
#include "moe/experts.h"

#include <string>

namespace promoe::moe {

ExpertList::ExpertList(int64_t count, int64_t dim, int64_t hidden, Generator& gen, const char* first,
                       const char* second) {
  for (int64_t e = 0; e < count; ++e)
    mlps.push_back(add(std::to_string(e), std::make_shared<nn::Mlp>(dim, hidden, gen, first, second)));
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
  if (!shared) return dispatch(U, a, experts.weights());
  const ExpertWeights s = weights_of(*shared);
  return dispatch(U, a, experts.weights(), &s);
}

}  // namespace promoe::moe
