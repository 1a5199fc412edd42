// Runs a parity case file (docs/CASES.md): rebuilds the model from the case's config and
// parameters, repeats its forward/backward pass and optional training steps, and compares every
// recorded tensor with its group's tolerance.
#pragma once
#include <string>
#include <vector>

#include "tensor/device.h"

namespace promoe::parity {

struct Comparison {
  std::string name;   // tensor name in the case
  std::string group;  // output, loss, grad, train, route
  double error = 0;   // relative ‖a − b‖ / ‖b‖, or max |a| where the reference is all zeros
  double tolerance = 0;
  bool ok = true;
};

struct CaseResult {
  std::string path;
  std::vector<Comparison> comparisons;
  bool ok() const;
  // One line per group: worst tensor, its error and tolerance; then every failing tensor.
  std::string summary() const;
};

// Throws promoe::Error for unreadable or inconsistent case files.
CaseResult check_case(const std::string& path, Device device = Device::cpu());

}  // namespace promoe::parity
