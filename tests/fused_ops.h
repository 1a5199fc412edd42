// Every fused op (tensor/fused.h) the tests reach, and the fast kernel of one on a device.
#pragma once
#include <doctest/doctest.h>

#include "moe/fused_cosine.h"
#include "moe/fused_grouped.h"
#include "nn/fused_adaln.h"
#include "nn/fused_attention.h"
#include "nn/fused_bias_gelu.h"
#include "nn/fused_conv.h"
#include "nn/fused_group_norm.h"
#include "nn/fused_optim.h"

namespace promoe::test {

// The fast kernel `op` has on `type`; fails the test case when there is none.
template <typename Op>
auto* fast_kernel(const Op& op, DeviceType type) {
  auto* kernel = op.kernel(type);
  const bool found = kernel != nullptr;
  REQUIRE_MESSAGE(found, op.name(), " has no fast kernel on this device");
  return kernel;
}
template <typename Op>
auto* cpu_kernel(const Op& op) {
  return fast_kernel(op, DeviceType::CPU);
}
template <typename Op>
auto* cuda_kernel(const Op& op) {
  return fast_kernel(op, DeviceType::CUDA);
}

}  // namespace promoe::test
