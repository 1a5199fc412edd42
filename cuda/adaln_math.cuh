// Math of the fused adaLN kernels (cuda/adaln.cu), host-testable: LayerNorm + modulation of a
// contiguous x (B, N, D) by shift, scale (B, D), and the gated residual out = x + gate * y.
//
// Rows r = b * N + n of D elements are shared by `nl` lanes as in cuda/rowwise_math.cuh (whose
// mean / rstd phases the forward reuses): lane l visits d = l, l + nl, ... Row statistics
// accumulate in double; the per-image sums over n (grad_shift, grad_scale, grad_gate) are column
// sums (cuda/colsum_math.cuh) of the terms below.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace promoe::cuda::adamath {

// Forward, after rowmath's mean `mu` and rstd `inv` of row x: y = xhat * (1 + scale) + shift.
template <typename T>
PROMOE_HD inline void modulate_apply(T* y, const T* x, const T* shift, const T* scale, int64_t n, double mu, double inv,
                                     int lane, int nl) {
  for (int64_t i = lane; i < n; i += nl) y[i] = T((x[i] - mu) * inv) * (T(1) + scale[i]) + shift[i];
}

// Backward, phase 1: the lane's sum(h) and sum(h * xhat), with h = g * (1 + scale) the gradient
// reaching the normalised row.
template <typename T>
PROMOE_HD inline void lane_modulate_grad_sums(const T* x, const T* g, const T* scale, int64_t n, double mu, double inv,
                                              int lane, int nl, double* sh, double* shx) {
  double a = 0, b = 0;
  for (int64_t i = lane; i < n; i += nl) {
    const double h = double(g[i]) * (1.0 + double(scale[i]));
    a += h;
    b += h * ((x[i] - mu) * inv);
  }
  *sh = a;
  *shx = b;
}

// Phase 2, with the row sums divided by n: LayerNorm's backward applied to h.
template <typename T>
PROMOE_HD inline void modulate_grad_apply(T* gx, const T* x, const T* g, const T* scale, int64_t n, double mu,
                                          double inv, double mean_h, double mean_hx, int lane, int nl) {
  for (int64_t i = lane; i < n; i += nl) {
    const double h = double(g[i]) * (1.0 + double(scale[i]));
    gx[i] = T(inv * (h - mean_h - (x[i] - mu) * inv * mean_hx));
  }
}

// Column terms of the modulation's backward: grad_shift = sum_n g, grad_scale = sum_n g * xhat.
template <typename T>
struct ModulateTerms {
  const T *g, *x, *mean, *rstd;
  int64_t N, D;
  PROMOE_HD void operator()(int64_t b, int64_t n, int64_t d, double* acc) const {
    const int64_t r = b * N + n, i = r * D + d;
    acc[0] += g[i];
    acc[1] += double(g[i]) * ((double(x[i]) - double(mean[r])) * double(rstd[r]));
  }
};

// Gated residual, element i of (B, N, D): x + gate[b] * y.
template <typename T>
PROMOE_HD inline T gated_add_at(const T* x, const T* gate, const T* y, int64_t i, int64_t N, int64_t D) {
  return x[i] + gate[(i / (N * D)) * D + i % D] * y[i];
}

// Its backward as column terms: writes grad_y = g * gate and sums grad_gate = sum_n g * y.
template <typename T>
struct GatedTerms {
  const T *g, *y, *gate;
  T* grad_y;
  int64_t N, D;
  PROMOE_HD void operator()(int64_t b, int64_t n, int64_t d, double* acc) const {
    const int64_t i = (b * N + n) * D + d;
    grad_y[i] = g[i] * gate[b * D + d];
    acc[0] += double(g[i]) * double(y[i]);
  }
};

}  // namespace promoe::cuda::adamath
