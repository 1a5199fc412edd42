// Per-element math of the CUDA elementwise kernels that tensor/scalar_math.h does not already
// hold: dtype conversion (bf16 stored as uint16_t bits), the truth of a `where` condition and the
// Philox draws. __host__ __device__ so that tests/test_unit_cuda_math.cpp runs them on the host.
#pragma once
#include <cstdint>
#include <type_traits>

#include "tensor/dtype.h"
#include "tensor/philox.h"

namespace promoe::cuda::emath {

// One element from storage type From to storage type To, as cpu/elementwise.cpp converts:
// bf16 widens to f32 first, anything narrows to bf16 through f32 (round to nearest even).
template <typename To, typename From>
PROMOE_HD inline To convert(From x) {
  if constexpr (std::is_same_v<From, uint16_t>) {
    return convert<To, float>(bf16_to_f32(x));
  } else if constexpr (std::is_same_v<To, uint16_t>) {
    return f32_to_bf16(float(x));
  } else {
    return To(x);
  }
}

// The storage value that fill() writes for `value`.
template <typename T>
PROMOE_HD inline T fill_value(double value) {
  if constexpr (std::is_same_v<T, uint16_t>)
    return f32_to_bf16(float(value));
  else
    return T(value);
}

// A `where` condition element of any dtype, read as the CPU backend reads it (as f64, non-zero = true).
PROMOE_HD inline bool truth(const void* base, int64_t off, DType dt) {
  switch (dt) {
    case DType::F32:
      return double(static_cast<const float*>(base)[off]) != 0;
    case DType::F64:
      return static_cast<const double*>(base)[off] != 0;
    case DType::I64:
      return double(static_cast<const int64_t*>(base)[off]) != 0;
    case DType::BF16:
      return double(bf16_to_f32(static_cast<const uint16_t*>(base)[off])) != 0;
  }
  return false;
}

template <typename T>
PROMOE_HD inline T uniform_at(uint64_t seed, uint64_t offset, int64_t i, double lo, double hi) {
  return T(lo + (hi - lo) * philox::uniform(seed, offset + uint64_t(i)));
}

template <typename T>
PROMOE_HD inline T normal_at(uint64_t seed, uint64_t offset, int64_t i, double mean, double std) {
  return T(mean + std * philox::normal(seed, offset + uint64_t(i)));
}

template <typename T>
PROMOE_HD inline T arange_at(int64_t i, double start, double step) {
  return T(start + double(i) * step);
}

}  // namespace promoe::cuda::emath
