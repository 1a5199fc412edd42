// Row ordering for the CUDA topk / sort kernels (cuda/sort.cu), host-testable. The order is the
// CPU's: by value (largest or smallest first), ties by the lower index, NaN ranked above every
// number as in PyTorch (first when largest, last when smallest; NaNs among themselves by index).
//
// Short rows (n <= kRankMaxN): element i's output position is its rank, the number of elements
// ordered before it; ranks of a strict total order are a permutation, so each thread writes its
// own elements without any sort. Long rows: a stable segmented radix sort (CUB) of sort_key(x),
// an unsigned integer whose ascending order is the requested order (stability keeps ties by index).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tensor/dtype.h"

namespace promoe::cuda::smath {

constexpr int64_t kRankMaxN = 4096;

template <typename T>
PROMOE_HD inline bool before(T xi, int64_t i, T xj, int64_t j, bool largest) {
  const bool ni = xi != xi, nj = xj != xj;  // NaN (never for integers)
  if (ni || nj) {
    if (ni && nj) return i < j;
    return largest ? ni : nj;
  }
  if (xi != xj) return largest ? xi > xj : xi < xj;
  return i < j;
}

template <typename T>
PROMOE_HD inline int64_t rank_in_row(const T* x, int64_t n, int64_t i, bool largest) {
  const T xi = x[i];
  int64_t r = 0;
  for (int64_t j = 0; j < n; ++j) r += before(x[j], j, xi, i, largest) ? 1 : 0;
  return r;
}

// Order-preserving unsigned key (ascending key = requested order). -0 and +0 map to one key, as
// they compare equal on the CPU; NaN takes the largest key before the descending flip.
template <typename T>
PROMOE_HD inline uint64_t sort_key(T x, bool descending) {
  uint64_t k;
  if (x != x) {
    k = ~uint64_t(0);
  } else if constexpr (std::is_same_v<T, float>) {
    if (x == 0.0f) x = 0.0f;
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    k = u;
  } else if constexpr (std::is_same_v<T, double>) {
    if (x == 0.0) x = 0.0;
    uint64_t u;
    memcpy(&u, &x, 8);
    k = (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
  } else {
    k = uint64_t(x) ^ 0x8000000000000000ull;
  }
  return descending ? ~k : k;
}

}  // namespace promoe::cuda::smath
