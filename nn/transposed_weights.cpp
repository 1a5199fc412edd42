// The calling thread's table of transposed weights, and the rule for when a product uses it.
#include "nn/transposed_weights.h"

#include "tensor/ops.h"

namespace promoe::nn {

namespace {
thread_local TransposedWeights* current = nullptr;
// From this many rows up, oneDNN's sgemm gives the same values with either layout of the weight.
constexpr int64_t kSameValuesRows = 16;
}  // namespace

Tensor TransposedWeights::of(const Tensor& weight) {
  std::lock_guard<std::mutex> lock(mu_);
  Tensor& t = copies_[weight.raw_data()];
  if (!t.defined()) t = raw::contiguous(raw::transpose(weight, 0, 1));
  return t;
}

TransposedWeightsScope::TransposedWeightsScope(TransposedWeights* table) : previous_(current) { current = table; }
TransposedWeightsScope::~TransposedWeightsScope() { current = previous_; }

Tensor weight_transposed_for(const Tensor& weight, int64_t rows) {
  if (current && rows >= kSameValuesRows && weight.dim() == 2 && weight.dtype() == DType::F32 &&
      weight.device() == Device::cpu() && weight.is_contiguous())
    return current->of(weight);
  return raw::transpose(weight, 0, 1);
}

}  // namespace promoe::nn
