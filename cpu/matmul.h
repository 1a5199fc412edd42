// One CPU matrix product, for kernels that schedule products themselves (cpu/grouped.cpp).
#pragma once
#include "tensor/tensor.h"

namespace promoe::cpu {

// out (M, N) = a (M, K) @ b (K, N) of 2-D views, as CpuBackend::matmul multiplies them; inside a
// parallel region the product runs single-threaded. `bf16`: the operands are read rounded to bf16
// (the caller's gemm_rounds_to_bf16: the setting is per thread); `sizes_vary`: see
// native_bf16_matmul (cpu/bf16_matmul.h).
void product_2d(const Tensor& out, const Tensor& a, const Tensor& b, bool bf16, bool sizes_vary);

// c (M, N) = alpha * op(a) @ op(b) for row-major float matrices (op(x) = x, or x^T where asked)
// through oneDNN's sgemm, on the calling thread inside a parallel region; false, having done
// nothing, in a build without oneDNN.
bool onednn_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float* c, int64_t ldc);

}  // namespace promoe::cpu
