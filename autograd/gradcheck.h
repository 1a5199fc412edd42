// Finite-difference gradient checking in float64 (as torch.autograd.gradcheck).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-6;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
  uint64_t seed = 1;  // for the random projection of the output
};

struct GradcheckResult {
  bool ok = true;
  std::string report;  // the worst mismatch of each input, or the first failure
};

// Checks the gradients of f at `inputs` (f64 CPU tensors; those with requires_grad are checked).
// The scalar differentiated is sum(f(inputs) * w) with a fixed random w, so every output element
// contributes with its own weight.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                          const GradcheckOptions& options = {});

}  // namespace promoe
