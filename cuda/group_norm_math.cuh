// Math of the GroupNorm kernels (cuda/group_norm.cu), host-testable. x is contiguous (B, C, S) in G
// groups of Cg = C / G channels, so group row r = b * G + gi is n = Cg * S contiguous values whose
// element i belongs to channel c0 + i / S (c0 = gi * Cg). Rows are shared by `nl` lanes as in
// cuda/rowwise_math.cuh (whose mean / rstd phases the forward reuses); the weight and bias
// gradients are per-channel rows over the B * S values of a channel, one group of lanes each.
// Sums accumulate in double.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace promoe::cuda::gnmath {

// Forward, after rowmath's mean `mu` and rstd `inv` of the group row x: y = xhat * w[c] + b[c].
template <typename T>
PROMOE_HD inline void group_norm_apply(T* y, const T* x, const T* w, const T* b, int64_t n, int64_t S, int64_t c0,
                                       double mu, double inv, int lane, int nl) {
  for (int64_t i = lane; i < n; i += nl) {
    const int64_t c = c0 + i / S;
    y[i] = T((double(x[i]) - mu) * inv * double(w[c]) + double(b[c]));
  }
}

// Backward, phase 1: the lane's sum(h) and sum(h * xhat) over the group row, h = g * w[c] the
// gradient reaching the normalised values.
template <typename T>
PROMOE_HD inline void lane_group_grad_sums(const T* x, const T* g, const T* w, int64_t n, int64_t S, int64_t c0,
                                           double mu, double inv, int lane, int nl, double* sh, double* shx) {
  double a = 0, b = 0;
  for (int64_t i = lane; i < n; i += nl) {
    const double h = double(g[i]) * double(w[c0 + i / S]);
    a += h;
    b += h * ((double(x[i]) - mu) * inv);
  }
  *sh = a;
  *shx = b;
}

// Phase 2, with the row sums divided by n: LayerNorm's backward applied to h.
template <typename T>
PROMOE_HD inline void group_grad_apply(T* gx, const T* x, const T* g, const T* w, int64_t n, int64_t S, int64_t c0,
                                       double mu, double inv, double mean_h, double mean_hx, int lane, int nl) {
  for (int64_t i = lane; i < n; i += nl) {
    const double h = double(g[i]) * double(w[c0 + i / S]);
    gx[i] = T(inv * (h - mean_h - (double(x[i]) - mu) * inv * mean_hx));
  }
}

// The weight and bias gradients of channel c: the lane's sums of g * xhat and of g over the B * S
// values of the channel (element i: image i / S, pixel i % S), with the statistics of its group.
template <typename T>
PROMOE_HD inline void lane_channel_sums(const T* g, const T* x, const T* mean, const T* rstd, int64_t c, int64_t B,
                                        int64_t C, int64_t S, int64_t G, int lane, int nl, double* sgx, double* sg) {
  const int64_t gi = c / (C / G);
  double a = 0, s = 0;
  for (int64_t i = lane; i < B * S; i += nl) {
    const int64_t b = i / S, at = (b * C + c) * S + i % S, r = b * G + gi;
    const double gv = g[at];
    a += gv * ((double(x[at]) - double(mean[r])) * double(rstd[r]));
    s += gv;
  }
  *sgx = a;
  *sg = s;
}

}  // namespace promoe::cuda::gnmath
