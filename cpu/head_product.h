// The float matrix products of one attention head on the CPU (scores q k^T and P v, a few dozen to a
// few hundred rows and columns), register-blocked on the calling thread, with no call overhead,
// packing or scratch. Each output element is one chain of fused multiply-adds over k in order,
// started from zero and scaled by alpha once at the end: the order oneDNN's sgemm sums in at these
// sizes, so the results equal its bit for bit there (docs/PERF.md, "## Sampling").
#pragma once
#include <cstdint>

namespace promoe::cpu {

// c (M, N) = alpha * (a (M, K) @ b (K, N)), all three row-major with leading dims lda, ldb, ldc.
void head_product(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc);

// The same products element by element: the definition head_product is tested against.
void head_product_reference(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
                            int64_t ldb, float* c, int64_t ldc);

}  // namespace promoe::cpu
