// Deterministic column sums over the middle dim of a (B, N, D) array of terms, host-testable: the
// per-image gradient sums of the fused adaLN and bias + GELU kernels (cuda/adaln.cu,
// cuda/bias_gelu.cu; bias + GELU is B = 1). The kernels are in cuda/colsum.cuh.
//
// out_k[b, d] = sum_n term_k(b, n, d) for K terms at once. N is cut into P parts of `chunk` rows;
// work item w = (b * P + p) * D + d (d fastest, so neighbouring threads read neighbouring columns)
// sums rows [p * chunk, min(N, (p + 1) * chunk)) in double, in row order. With P > 1 a second pass
// adds each (b, d)'s P partials in order of p. P depends only on the shape, so no float atomics and
// results repeat bit for bit.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace promoe::cuda::colmath {

struct Split {
  int64_t parts;  // P
  int64_t chunk;  // rows per part
};

// Enough work items to fill a GPU (~64k threads) without parts shorter than 32 rows.
inline Split split_for(int64_t B, int64_t N, int64_t D) {
  constexpr int64_t kWant = int64_t(1) << 16, kMinChunk = 32;
  const int64_t cols = B * D > 0 ? B * D : 1;
  int64_t p = (kWant + cols - 1) / cols;
  const int64_t most = (N + kMinChunk - 1) / kMinChunk;
  if (p > most) p = most;
  if (p < 1) p = 1;
  const int64_t chunk = N > 0 ? (N + p - 1) / p : 1;
  return {N > 0 ? (N + chunk - 1) / chunk : 1, chunk};
}

// Work item w's K sums. `term(b, n, d, acc)` adds its K terms into acc[0..K); a term may also
// write its element of an elementwise output (each element belongs to exactly one work item).
template <int K, typename F>
PROMOE_HD inline void item_sums(const F& term, int64_t w, int64_t N, int64_t D, Split s, double* acc) {
  const int64_t d = w % D, bp = w / D, b = bp / s.parts, p = bp % s.parts;
  const int64_t begin = p * s.chunk, end = begin + s.chunk < N ? begin + s.chunk : N;
  for (int k = 0; k < K; ++k) acc[k] = 0;
  for (int64_t n = begin; n < end; ++n) term(b, n, d, acc);
}

// Second pass, output element o = b * D + d: its P partials (one term's B * P * D block) in order.
PROMOE_HD inline double combine_parts(const double* partial, int64_t o, int64_t D, int64_t P) {
  const int64_t b = o / D, d = o % D;
  double s = 0;
  for (int64_t p = 0; p < P; ++p) s += partial[(b * P + p) * D + d];
  return s;
}

}  // namespace promoe::cuda::colmath
