// LayerNorm statistics of one row on the device, shared by the plain LayerNorm (cuda/rowwise.cu)
// and the fused LayerNorm + modulate (cuda/adaln.cu).
#pragma once
#include "cuda/common.cuh"
#include "cuda/rowwise_math.cuh"

namespace promoe::cuda {

struct RowStats {
  double mean, rstd;
};

// Mean and 1 / sqrt(biased variance + eps) of row r of x (rows, n), reduced over the NL lanes that
// share it (PROMOE_ROW_LOOP's `lane` and `smem`); lane 0 stores them in mean[r] and rstd[r].
template <int NL, typename T>
__device__ inline RowStats layer_norm_row_stats(const T* x, int64_t r, int64_t n, double eps, int lane, double* smem,
                                                T* mean, T* rstd) {
  const T* xr = x + r * n;
  const double mu = group_reduce<NL>(rowmath::lane_sum(xr, n, lane, NL), SumOp{}, smem) / double(n);
  const double sq = group_reduce<NL>(rowmath::lane_sq_dev(xr, n, mu, lane, NL), SumOp{}, smem);
  const double inv = rowmath::layer_norm_rstd(sq, n, eps);
  if (lane == 0) {
    mean[r] = T(mu);
    rstd[r] = T(inv);
  }
  return {mu, inv};
}

}  // namespace promoe::cuda
