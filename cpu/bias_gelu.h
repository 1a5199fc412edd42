// Row-range kernels of the fused bias + GELU(tanh), single-threaded: cpu/bias_gelu.cpp shares rows
// out over threads with them, cpu/grouped.cpp runs one expert's segment on the thread that
// computed its product.
#pragma once
#include <cstdint>

#include "cpu/eigen_rows.h"
#include "tensor/scalar_math.h"

namespace promoe::cpu {

// Rows [r0, r1) of row-major (rows, n) pre and out: pre += bias, out = gelu_tanh(pre).
template <typename T>
void bias_gelu_rows(T* pre, T* out, const T* bias, int64_t r0, int64_t r1, int64_t n) {
  ConstRow<T> b(bias, n);
  const T k = T(math::kSqrt2OverPi), c = T(math::kGeluCoef);
  for (int64_t r = r0; r < r1; ++r) {
    Row<T> x(pre + r * n, n);
    x += b;
    Row<T>(out + r * n, n) = T(0.5) * x * (T(1) + (k * (x + c * x.cube())).tanh());
  }
}

// Rows [r0, r1): grad_pre = g * gelu_tanh'(pre); their column sums are added to acc (n).
template <typename T>
void bias_gelu_backward_rows(T* grad_pre, T* acc, const T* g, const T* pre, int64_t r0, int64_t r1, int64_t n) {
  Row<T> sums(acc, n);
  const T k = T(math::kSqrt2OverPi), c = T(math::kGeluCoef);
  for (int64_t r = r0; r < r1; ++r) {
    ConstRow<T> x(pre + r * n, n);
    Row<T> gx(grad_pre + r * n, n);
    gx = (k * (x + c * x.cube())).tanh();  // t, kept in the output row
    gx = ConstRow<T>(g + r * n, n) *
         (T(0.5) * (T(1) + gx) + T(0.5) * x * (T(1) - gx.square()) * k * (T(1) + T(3) * c * x.square()));
    sums += gx;
  }
}

// The bias gradient's column sums are taken over blocks of this many rows, added in block order,
// so they do not depend on the thread count.
constexpr int64_t kBiasGeluRowBlock = 64;

// The whole backward of one (rows, n) group on the calling thread: grad_pre, and grad_bias (n) as
// the parallel kernel sums it (per block, then the blocks in order).
template <typename T>
void bias_gelu_backward_serial(T* grad_pre, T* grad_bias, const T* g, const T* pre, int64_t rows, int64_t n) {
  Row<T> gb(grad_bias, n);
  gb.setZero();
  Eigen::Array<T, Eigen::Dynamic, 1> block(n);
  for (int64_t r0 = 0; r0 < rows; r0 += kBiasGeluRowBlock) {
    block.setZero();
    bias_gelu_backward_rows(grad_pre, block.data(), g, pre, r0, std::min(rows, r0 + kBiasGeluRowBlock), n);
    gb += block;
  }
}

}  // namespace promoe::cpu
