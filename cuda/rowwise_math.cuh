// Row math of the CUDA softmax / log-softmax / LayerNorm kernels and their backward passes
// (cuda/rowwise.cu), host-testable. A row of n elements is shared by `nl` lanes (a warp, or a
// block): lane l visits i = l, l + nl, ... Each op runs in phases: lanes compute partial row
// statistics, the group combines them (max or sum), then every lane writes its elements from the
// combined statistics. Statistics accumulate in double and the per-element formulas are those of
// cpu/rowwise.cpp, so both backends agree to rounding.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"

namespace promoe::cuda::rowmath {

// Phase 1 of softmax: the lane's maximum (the group combines with max).
template <typename T>
PROMOE_HD inline T lane_max(const T* x, int64_t n, int lane, int nl) {
  T m = x[0];
  for (int64_t i = lane; i < n; i += nl) m = x[i] > m ? x[i] : m;
  return m;
}

// Phase 2: the lane's sum of exp(x - max) (the group sums).
template <typename T>
PROMOE_HD inline double lane_sum_exp(const T* x, int64_t n, T mx, int lane, int nl) {
  double s = 0;
  for (int64_t i = lane; i < n; i += nl) s += exp(double(x[i] - mx));
  return s;
}

// Phase 3: outputs.
template <typename T>
PROMOE_HD inline void softmax_apply(T* y, const T* x, int64_t n, T mx, double s, bool log_out, int lane, int nl) {
  if (log_out) {
    const T lse = T(log(s));
    for (int64_t i = lane; i < n; i += nl) y[i] = x[i] - mx - lse;
  } else {
    const T inv = T(1.0 / s);
    for (int64_t i = lane; i < n; i += nl) y[i] = T(exp(x[i] - mx)) * inv;
  }
}

// Softmax backward, phase 1: sum(g) for log-softmax, sum(g * y) for softmax.
template <typename T>
PROMOE_HD inline double lane_softmax_grad_dot(const T* g, const T* y, int64_t n, bool log_out, int lane, int nl) {
  double s = 0;
  if (log_out)
    for (int64_t i = lane; i < n; i += nl) s += g[i];
  else
    for (int64_t i = lane; i < n; i += nl) s += double(g[i]) * double(y[i]);
  return s;
}

template <typename T>
PROMOE_HD inline void softmax_grad_apply(T* gi, const T* g, const T* y, int64_t n, double s, bool log_out, int lane,
                                         int nl) {
  if (log_out)
    for (int64_t i = lane; i < n; i += nl) gi[i] = g[i] - T(exp(y[i])) * T(s);
  else
    for (int64_t i = lane; i < n; i += nl) gi[i] = y[i] * (g[i] - T(s));
}

// LayerNorm, phase 1: the lane's sum of x; phase 2: its sum of squared deviations from the mean.
template <typename T>
PROMOE_HD inline double lane_sum(const T* x, int64_t n, int lane, int nl) {
  double s = 0;
  for (int64_t i = lane; i < n; i += nl) s += x[i];
  return s;
}

template <typename T>
PROMOE_HD inline double lane_sq_dev(const T* x, int64_t n, double mu, int lane, int nl) {
  double s = 0;
  for (int64_t i = lane; i < n; i += nl) s += (x[i] - mu) * (x[i] - mu);
  return s;
}

// Biased variance, as PyTorch.
PROMOE_HD inline double layer_norm_rstd(double sq_dev, int64_t n, double eps) {
  return 1.0 / sqrt(sq_dev / double(n) + eps);
}

template <typename T>
PROMOE_HD inline void layer_norm_apply(T* y, const T* x, int64_t n, double mu, double inv, int lane, int nl) {
  for (int64_t i = lane; i < n; i += nl) y[i] = T((x[i] - mu) * inv);
}

// LayerNorm backward, phase 1: the lane's sum(g) and sum(g * xhat).
template <typename T>
PROMOE_HD inline void lane_layer_norm_grad_sums(const T* x, const T* g, int64_t n, double mu, double inv, int lane,
                                                int nl, double* sg, double* sgx) {
  double a = 0, b = 0;
  for (int64_t i = lane; i < n; i += nl) {
    const double xhat = (x[i] - mu) * inv;
    a += g[i];
    b += g[i] * xhat;
  }
  *sg = a;
  *sgx = b;
}

// Phase 2, with the row sums already divided by n.
template <typename T>
PROMOE_HD inline void layer_norm_grad_apply(T* gi, const T* x, const T* g, int64_t n, double mu, double inv,
                                            double mean_g, double mean_gx, int lane, int nl) {
  for (int64_t i = lane; i < n; i += nl) gi[i] = T(inv * (g[i] - mean_g - (x[i] - mu) * inv * mean_gx));
}

}  // namespace promoe::cuda::rowmath
