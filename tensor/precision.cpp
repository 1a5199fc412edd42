// The thread-local GEMM precision setting.
#include "tensor/precision.h"

#include "tensor/error.h"

namespace promoe {

namespace {
thread_local GemmPrecision g_gemm_precision = GemmPrecision::FP32;
}  // namespace

GemmPrecision gemm_precision() { return g_gemm_precision; }

bool gemm_rounds_to_bf16(DType dtype) { return dtype == DType::F32 && g_gemm_precision == GemmPrecision::BF16; }

GemmPrecision parse_gemm_precision(const std::string& name) {
  if (name == "fp32") return GemmPrecision::FP32;
  if (name == "bf16") return GemmPrecision::BF16;
  PROMOE_FAIL("unknown --precision '", name, "' (expected fp32 or bf16)");
}

GemmPrecisionGuard::GemmPrecisionGuard(GemmPrecision p) : prev_(g_gemm_precision) { g_gemm_precision = p; }
GemmPrecisionGuard::~GemmPrecisionGuard() { g_gemm_precision = prev_; }

}  // namespace promoe
