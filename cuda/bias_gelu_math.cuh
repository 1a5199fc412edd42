// Math of the fused bias + GELU(tanh) kernels (cuda/bias_gelu.cu) on contiguous pre (rows, n) and
// bias (n), host-testable. The bias gradient is a column sum (cuda/colsum_math.cuh with B = 1,
// N = rows, D = n) whose term also writes grad_pre, so backward reads pre and g once.
#pragma once
#include <cstdint>

#include "tensor/scalar_math.h"

namespace promoe::cuda::gelumath {

// Element i: pre += bias in place (kept for backward); returns gelu_tanh(pre).
template <typename T>
PROMOE_HD inline T bias_gelu_at(T* pre, const T* bias, int64_t i, int64_t n) {
  const T x = pre[i] + bias[i % n];
  pre[i] = x;
  return math::gelu_tanh(x);
}

// Backward term of element (row, col): grad_pre = g * gelu_tanh'(pre), summed into grad_bias.
template <typename T>
struct BiasGeluTerms {
  const T *g, *pre;
  T* grad_pre;
  int64_t n;
  PROMOE_HD void operator()(int64_t, int64_t row, int64_t col, double* acc) const {
    const int64_t i = row * n + col;
    const T gp = g[i] * math::gelu_tanh_grad(pre[i]);
    grad_pre[i] = gp;
    acc[0] += gp;
  }
};

}  // namespace promoe::cuda::gelumath
