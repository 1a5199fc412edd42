// Runtime micro-benchmark (`promoe bench --what runtime`): fp32 matrix products through the raw and
// the differentiable matmul next to bare Eigen on the same shapes (a 1024^3 square and the GEMMs of
// a DiT-S block, forward and backward forms), and elementwise bandwidth, as a table of medians of
// interleaved rounds with the ratio runtime / Eigen.
#pragma once

namespace promoe {

struct RuntimeBenchOptions {
  int threads = 2;  // OpenMP threads for the runtime and for Eigen
  int repeats = 5;  // interleaved rounds; the table shows the median
};

void run_runtime_bench(const RuntimeBenchOptions& options);

}  // namespace promoe
