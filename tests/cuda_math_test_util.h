// Helpers of the host-side CUDA math tests (test_unit_cuda_math_*.cpp): dtype dispatch,
// reference geometry, tolerance checks against the CPU backend and the warp lane merge.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>
#include <vector>

#include "cuda/elementwise_math.cuh"
#include "cuda/gemm_plan.h"
#include "cuda/index_math.cuh"
#include "cuda/reduce_math.cuh"
#include "cuda/rowwise_math.cuh"
#include "cuda/size_class.h"
#include "cuda/sort_math.cuh"
#include "cuda/strided.cuh"
#include "random_views.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/scalar_math.h"

using namespace promoe;
using namespace promoe::test;
namespace pc = promoe::cuda;

namespace cuda_math_test {

inline Backend& cpu() { return backend_for(Device::cpu()); }

// Calls f(T{}) with T the storage type of `dt` (bf16 as its uint16_t bits, as the kernels store it).
template <typename F>
inline void with_storage(DType dt, F f) {
  switch (dt) {
    case DType::F32:
      f(float{});
      break;
    case DType::F64:
      f(double{});
      break;
    case DType::I64:
      f(int64_t{});
      break;
    case DType::BF16:
      f(uint16_t{});
      break;
  }
}

template <typename F>
inline void with_numeric(DType dt, F f) {
  switch (dt) {
    case DType::F32:
      f(float{});
      break;
    case DType::F64:
      f(double{});
      break;
    case DType::I64:
      f(int64_t{});
      break;
    case DType::BF16:
      FAIL("bf16 is storage only");
      break;
  }
}

inline const DType kAllDTypes[] = {DType::F32, DType::F64, DType::I64, DType::BF16};

// An uninitialised output of logical shape `shape` stored with its dims reversed (non-contiguous).
inline Tensor permuted_empty(const Shape& shape, DType dt) {
  const int64_t nd = int64_t(shape.size());
  Shape rev(shape.rbegin(), shape.rend());
  std::vector<int64_t> perm(nd);
  for (int64_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
  return raw::permute(Tensor::empty(rev, dt), perm);
}

inline int64_t naive_offset(const Shape& shape, const Shape& strides, int64_t i) {
  int64_t off = 0;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

// |got - want| <= atol + rtol * |want| elementwise (NaN matches NaN), on values read as f64.
inline void check_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(),
                  (what + ": shapes " + shape_str(got.shape()) + " vs " + shape_str(want.shape())));
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
    if (!both_nan && !(std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]))) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  }
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << g.size() << " elements differ";
  if (first >= 0) msg << "; first at " << first << ": " << g[first] << " vs " << w[first];
  CHECK_MESSAGE(bad == 0, msg.str());
}

inline void check_equal(const Tensor& got, const Tensor& want, const std::string& what) {
  check_close(got, want, 0, 0, what);
}

inline double rtol_for(DType dt) { return dt == DType::F32 ? 2e-6 : dt == DType::F64 ? 1e-13 : 0; }

// The kernels' lane merge: after step s every lane l holds combine(v[l], v[l ^ s]).
template <typename V, typename Op>
void butterfly(V* v, Op op) {
  for (int s = 16; s > 0; s >>= 1) {
    V nv[32];
    for (int l = 0; l < 32; ++l) nv[l] = op(v[l], v[l ^ s]);
    std::copy(nv, nv + 32, v);
  }
}

}  // namespace cuda_math_test
