// Finiteness checks over named tensors (finite_check.h).
#include "training/finite_check.h"

#include <cmath>

#include "nn/fused_optim.h"

namespace promoe::training {

bool all_finite(const std::vector<Tensor>& tensors) {
  // sum_of_squares wants float tensors of one device: group them.
  std::vector<Tensor> group;
  for (const Tensor& t : tensors) {
    if (t.dtype() == DType::I64 || t.numel() == 0) continue;
    if (!group.empty() && t.device() != group.front().device()) {
      if (!std::isfinite(nn::fused::sum_of_squares(group))) return false;
      group.clear();
    }
    group.push_back(t);
  }
  return group.empty() || std::isfinite(nn::fused::sum_of_squares(group));
}

std::string first_non_finite(const NamedTensors& tensors) {
  std::vector<Tensor> all;
  for (const auto& [name, t] : tensors) all.push_back(t);
  if (all_finite(all)) return {};
  for (const auto& [name, t] : tensors)
    if (!all_finite({t})) return name;
  return {};
}

}  // namespace promoe::training
