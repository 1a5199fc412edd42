// One CPU matrix product, for kernels that schedule products themselves (cpu/grouped.cpp).
#pragma once
#include "tensor/tensor.h"

namespace promoe::cpu {

// out (M, N) = a (M, K) @ b (K, N) of 2-D views, as CpuBackend::matmul multiplies them; inside a
// parallel region the product runs single-threaded. `bf16`: the operands are read rounded to bf16
// (the caller's gemm_rounds_to_bf16: the setting is per thread); `sizes_vary`: see
// native_bf16_matmul (cpu/bf16_matmul.h).
void product_2d(const Tensor& out, const Tensor& a, const Tensor& b, bool bf16, bool sizes_vary);

}  // namespace promoe::cpu
