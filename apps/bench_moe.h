// MoE layer benchmark (`promoe bench --what moe`): one MoE layer of a preset, forward and backward
// on random tokens, against a dense MLP with the same matrix-product FLOPs per token.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/precision.h"
#include "tensor/tensor.h"
#include "training/config_edits.h"

namespace promoe {

struct MoeBenchOptions {
  std::string preset = "ProMoE-Tiny";
  training::ConfigEdits edits;  // --config / --set on top of the preset
  int64_t batch = 32;
  int repeats = 5;  // timed rounds, each one step of the MoE layer and one of the dense MLP
  Device device = Device::cpu();
  GemmPrecision precision = GemmPrecision::FP32;
};

void run_moe_bench(const MoeBenchOptions& options);

}  // namespace promoe
