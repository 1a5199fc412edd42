// CUDA batched matrix product through cuBLAS strided-batched GEMM (f32, f64). Views that are row-
// or column-major are used in place by choosing transposes (cuda/gemm_plan.h); other operands are
// copied to contiguous first, and an unusable output is computed in a temporary and copied back.
// Under GemmPrecision::BF16 (tensor/precision.h) a float product goes to cublasGemmStridedBatchedEx
// with f32 A/B/C and CUBLAS_COMPUTE_32F_FAST_16BF: cuBLAS rounds the inputs to bf16 and runs
// tensor cores, accumulating and writing f32, as the CPU reference computes it.
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/gemm_plan.h"
#include "tensor/ops.h"
#include "tensor/precision.h"

namespace promoe::cuda {

namespace {

gemm::Mat mat_of(const Tensor& t) { return {t.size(1), t.size(2), t.stride(1), t.stride(2)}; }

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

cublasStatus_t gemm_call(cublasHandle_t h, const gemm::Plan& p, const float* alpha, const float* first, int64_t sf,
                         const float* second, int64_t ss, const float* beta, float* c, int64_t sc, int64_t batch) {
  return cublasSgemmStridedBatched_64(h, op(p.trans_first), op(p.trans_second), p.m, p.n, p.k, alpha, first, p.ld_first,
                                      sf, second, p.ld_second, ss, beta, c, p.ldc, sc, batch);
}

cublasStatus_t gemm_call(cublasHandle_t h, const gemm::Plan& p, const double* alpha, const double* first, int64_t sf,
                         const double* second, int64_t ss, const double* beta, double* c, int64_t sc, int64_t batch) {
  return cublasDgemmStridedBatched_64(h, op(p.trans_first), op(p.trans_second), p.m, p.n, p.k, alpha, first, p.ld_first,
                                      sf, second, p.ld_second, ss, beta, c, p.ldc, sc, batch);
}

// f32 operands read as bf16, f32 accumulation and output.
cublasStatus_t gemm_call_bf16(cublasHandle_t h, const gemm::Plan& p, const float* alpha, const float* first, int64_t sf,
                              const float* second, int64_t ss, const float* beta, float* c, int64_t sc, int64_t batch) {
  return cublasGemmStridedBatchedEx_64(h, op(p.trans_first), op(p.trans_second), p.m, p.n, p.k, alpha, first,
                                       CUDA_R_32F, p.ld_first, sf, second, CUDA_R_32F, p.ld_second, ss, beta, c,
                                       CUDA_R_32F, p.ldc, sc, batch, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT);
}

}  // namespace

void CudaBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  auto usable = [](const Tensor& t) { return gemm::layout_of(mat_of(t)) != gemm::Layout::None; };
  const Tensor A = usable(a) ? a : raw::contiguous(a);
  const Tensor B = usable(b) ? b : raw::contiguous(b);
  const int64_t batch = out.size(0);
  // The output's batches must not overlap (a stride-0 batch dim cannot be written in place).
  const bool out_ok = usable(out) && (batch == 1 || out.stride(0) != 0);
  const Tensor O = out_ok ? out : Tensor::empty(out.shape(), out.dtype(), out.device());
  if (!out_ok && beta != 0) copy(O, out);
  const gemm::Plan p = gemm::plan(mat_of(A), mat_of(B), mat_of(O));
  const Tensor& first = p.swap ? B : A;
  const Tensor& second = p.swap ? A : B;
  const int64_t sf = batch == 1 ? 0 : first.stride(0), ss = batch == 1 ? 0 : second.stride(0),
                sc = batch == 1 ? 0 : O.stride(0);
  cublasHandle_t h = context().cublas;
  switch (a.dtype()) {
    case DType::F32: {
      const float al = float(alpha), bt = float(beta);
      if (gemm_rounds_to_bf16(DType::F32))
        CUBLAS_CHECK(gemm_call_bf16(h, p, &al, first.data<float>(), sf, second.data<float>(), ss, &bt, O.data<float>(),
                                    sc, batch));
      else
        CUBLAS_CHECK(
            gemm_call(h, p, &al, first.data<float>(), sf, second.data<float>(), ss, &bt, O.data<float>(), sc, batch));
      break;
    }
    case DType::F64: {
      const double al = alpha, bt = beta;
      CUBLAS_CHECK(
          gemm_call(h, p, &al, first.data<double>(), sf, second.data<double>(), ss, &bt, O.data<double>(), sc, batch));
      break;
    }
    default:
      PROMOE_FAIL("matmul: unsupported dtype ", dtype_name(a.dtype()));
  }
  if (!O.same(out)) copy(out, O);
}

}  // namespace promoe::cuda
