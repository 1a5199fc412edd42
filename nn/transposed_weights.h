// Row-major (in, out) copies of Linear weights for inference on the CPU. oneDNN's sgemm multiplies
// by a row-major (in, out) matrix 5-15% faster than by the transposed view of the (out, in) weight
// at the model's shapes, and from 16 rows up with the same values, bit for bit (docs/PERF.md,
// "## Sampling"); below 16 rows it sums in another order, so smaller products keep the view.
#pragma once
#include <mutex>
#include <unordered_map>

#include "tensor/tensor.h"

namespace promoe::nn {

// The copies, made on first use and kept while the table lives: the weights must not change
// meanwhile (training::generate holds one while it samples). Shared by threads.
class TransposedWeights {
 public:
  // The (in, out) copy of `weight` (out, in).
  Tensor of(const Tensor& weight);

 private:
  std::mutex mu_;
  std::unordered_map<const void*, Tensor> copies_;
};

// Makes `table` the calling thread's for nn::linear and nn::linear_gelu while in scope.
class TransposedWeightsScope {
 public:
  explicit TransposedWeightsScope(TransposedWeights* table);
  ~TransposedWeightsScope();
  TransposedWeightsScope(const TransposedWeightsScope&) = delete;
  TransposedWeightsScope& operator=(const TransposedWeightsScope&) = delete;

 private:
  TransposedWeights* previous_;
};

// The right operand of x (rows, in) @ weight^T: the calling thread's (in, out) copy where it has a
// table and the product qualifies (CPU, f32, contiguous weight, at least 16 rows), else the view.
Tensor weight_transposed_for(const Tensor& weight, int64_t rows);

}  // namespace promoe::nn
