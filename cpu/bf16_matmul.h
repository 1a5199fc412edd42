// Native bf16 matrix products on the CPU: operands converted to bfloat16 and multiplied by oneDNN's
// matmul primitive on the CPU's bf16 units (AMX tiles or AVX512-BF16), f32 accumulation and output.
// This is the fast path of GemmPrecision::BF16 (tensor/precision.h); it computes the same products
// of bf16-rounded operands as the readable reference in cpu/matmul.cpp, in another summation order.
#pragma once
#include <cstdint>

namespace promoe::cpu {

// A float matrix in memory, row-major (element (i, j) at p[i * ld + j]) or column-major
// (at p[i + j * ld]).
struct FloatMatrix {
  const float* p;
  int64_t ld;
  bool row_major;
};

// out (M, N) = alpha * bf16(a) (M, K) @ bf16(b) (K, N) + beta * out; out's old values are not
// rounded. `sizes_vary`: the caller's products come in ever-changing sizes (an expert's rows);
// instead of a primitive per size (created at about half a millisecond each), the varying sizes are
// rounded up with zero padding so that a few cached primitives serve them all.
// Returns false, having done nothing, where this build has no oneDNN, this CPU has no native bf16
// product, or native products are switched off: the caller then multiplies rounded copies itself.
bool native_bf16_matmul(float* out, int64_t ldo, bool out_row_major, FloatMatrix a, FloatMatrix b, int64_t M, int64_t K,
                        int64_t N, float alpha, float beta, bool sizes_vary);

// Whether native bf16 products are used where the CPU has them (default true). Tests switch them off
// to check the reference path on machines that have them; the setting is process-wide.
void allow_native_bf16(bool allow);
// Whether this build and CPU have them (independent of allow_native_bf16).
bool has_native_bf16();
// Whether native_bf16_matmul multiplies now: the CPU has bf16 units and they are allowed.
bool native_bf16_enabled();

}  // namespace promoe::cpu
