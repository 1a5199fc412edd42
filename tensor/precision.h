// The precision of matrix products (GEMMs) of float32 tensors: a thread-local setting with an RAII
// guard, like autograd's no-grad mode.
//
// FP32 (the default) multiplies float32 operands as they are. BF16 is mixed precision as bf16
// autocast training does it, with fp32 master weights: every float32 product (Backend::matmul,
// batched_matmul, grouped_matmul and the products inside the fused attention), forward and
// backward alike, reads its two operands rounded to bfloat16 (round to nearest even, as the BF16
// dtype does) and accumulates and writes float32. Everything else (activations, softmax, norms,
// losses, gradients, weights, optimizer state) stays float32; float64 products ignore the setting.
// Backends read it on the calling thread, before any parallel region of their own.
#pragma once
#include <string>

#include "tensor/dtype.h"

namespace promoe {

enum class GemmPrecision { FP32, BF16 };

GemmPrecision gemm_precision();
// Whether a product of `dtype` operands reads them rounded to bf16 here and now (f32 under BF16).
bool gemm_rounds_to_bf16(DType dtype);
// "fp32" or "bf16" (the --precision flag); anything else throws an Error naming the choices.
GemmPrecision parse_gemm_precision(const std::string& name);

// x rounded to the nearest bfloat16 value (ties to even), which float32 holds exactly.
inline float round_to_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// Sets the precision for the current thread until the guard goes out of scope.
class GemmPrecisionGuard {
 public:
  explicit GemmPrecisionGuard(GemmPrecision p);
  ~GemmPrecisionGuard();
  GemmPrecisionGuard(const GemmPrecisionGuard&) = delete;
  GemmPrecisionGuard& operator=(const GemmPrecisionGuard&) = delete;

 private:
  GemmPrecision prev_;
};

}  // namespace promoe
