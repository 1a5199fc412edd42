// Independent products outs[i] = as[i] @ bs[i] of 2-D views (e.g. one per expert) in one cuBLAS
// grouped GEMM (cublas<t>gemmGroupedBatched_64, f32 and f64, one group per product). Each product's
// transposes and leading dims come from cuda/gemm_plan.h as for matmul(), so row- and column-major
// views are used in place; a product with an operand that needs a copy goes through matmul().
// cuBLAS reads the operand pointers from device arrays: a small kernel writes them from by-value
// chunks, queued on the stream like the GEMM, so the host never waits.
// Under GemmPrecision::BF16 (tensor/precision.h) float products go to cublasGemmGroupedBatchedEx_64
// with f32 A/B/C and CUBLAS_COMPUTE_32F_FAST_16BF (inputs read as bf16 on tensor cores, f32
// accumulation); where cuBLAS answers NOT_SUPPORTED for that compute type, the products run one
// by one through matmul(), i.e. strided-batched GemmEx with the same compute type.
#include <algorithm>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/gemm_plan.h"
#include "tensor/fused.h"
#include "tensor/ops.h"
#include "tensor/precision.h"

namespace promoe::cuda {

namespace {

constexpr int kPtrChunk = 384;  // 3 KB of kernel parameters per launch

struct PtrChunk {
  void* p[kPtrChunk];
};

__global__ void write_pointers_kernel(PtrChunk c, int count, void** dst) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < count) dst[i] = c.p[i];
}

// dst[i] = src[i] in device memory, stream-ordered.
void upload_pointers(void** dst, const std::vector<void*>& src) {
  for (size_t at = 0; at < src.size(); at += kPtrChunk) {
    PtrChunk c;
    const int count = int(std::min<size_t>(kPtrChunk, src.size() - at));
    std::copy_n(src.begin() + at, count, c.p);
    write_pointers_kernel<<<(count + 127) / 128, 128, 0, context().stream>>>(c, count, dst + at);
    CUDA_CHECK_LAUNCH("grouped_matmul (operand pointers)");
  }
}

gemm::Mat mat_of(const Tensor& t) { return {t.size(0), t.size(1), t.stride(0), t.stride(1)}; }

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// `bf16`: read the f32 operands as bf16 (f32 accumulation and output).
cublasStatus_t grouped_call(cublasHandle_t h, const cublasOperation_t* ta, const cublasOperation_t* tb,
                            const int64_t* m, const int64_t* n, const int64_t* k, const float* alpha,
                            void* const* first, const int64_t* ldf, void* const* second, const int64_t* lds,
                            const float* beta, void* const* c, const int64_t* ldc, int64_t count, const int64_t* sizes,
                            bool bf16) {
  if (bf16)
    return cublasGemmGroupedBatchedEx_64(h, ta, tb, m, n, k, alpha, first, CUDA_R_32F, ldf, second, CUDA_R_32F, lds,
                                         beta, c, CUDA_R_32F, ldc, count, sizes, CUBLAS_COMPUTE_32F_FAST_16BF);
  return cublasSgemmGroupedBatched_64(h, ta, tb, m, n, k, alpha, reinterpret_cast<const float* const*>(first), ldf,
                                      reinterpret_cast<const float* const*>(second), lds, beta,
                                      reinterpret_cast<float* const*>(c), ldc, count, sizes);
}

cublasStatus_t grouped_call(cublasHandle_t h, const cublasOperation_t* ta, const cublasOperation_t* tb,
                            const int64_t* m, const int64_t* n, const int64_t* k, const double* alpha,
                            void* const* first, const int64_t* ldf, void* const* second, const int64_t* lds,
                            const double* beta, void* const* c, const int64_t* ldc, int64_t count, const int64_t* sizes,
                            bool /*bf16: f64 products ignore it*/) {
  return cublasDgemmGroupedBatched_64(h, ta, tb, m, n, k, alpha, reinterpret_cast<const double* const*>(first), ldf,
                                      reinterpret_cast<const double* const*>(second), lds, beta,
                                      reinterpret_cast<double* const*>(c), ldc, count, sizes);
}

// The products `which`, every operand usable in place, in one call. Returns false, having run
// nothing, where cuBLAS does not support the bf16 grouped call.
template <typename T>
bool grouped_gemm(const std::vector<Tensor>& outs, const std::vector<Tensor>& as, const std::vector<Tensor>& bs,
                  const std::vector<size_t>& which, bool bf16) {
  const int64_t count = int64_t(which.size());
  std::vector<cublasOperation_t> ta(count), tb(count);
  std::vector<int64_t> m(count), n(count), k(count), ldf(count), lds(count), ldc(count), sizes(count, 1);
  std::vector<void*> ptrs(3 * count);  // firsts, seconds, outputs
  for (int64_t j = 0; j < count; ++j) {
    const size_t i = which[j];
    const gemm::Plan p = gemm::plan(mat_of(as[i]), mat_of(bs[i]), mat_of(outs[i]));
    ta[j] = op(p.trans_first);
    tb[j] = op(p.trans_second);
    m[j] = p.m;
    n[j] = p.n;
    k[j] = p.k;
    ldf[j] = p.ld_first;
    lds[j] = p.ld_second;
    ldc[j] = p.ldc;
    ptrs[j] = (p.swap ? bs[i] : as[i]).data<T>();
    ptrs[count + j] = (p.swap ? as[i] : bs[i]).data<T>();
    ptrs[2 * count + j] = outs[i].data<T>();
  }
  const std::vector<T> alpha(count, T(1)), beta(count, T(0));
  Context& c = context();
  const size_t bytes = ptrs.size() * sizeof(void*);
  void** d = static_cast<void**>(c.allocator.allocate(bytes));
  upload_pointers(d, ptrs);
  const cublasStatus_t st =
      grouped_call(c.cublas, ta.data(), tb.data(), m.data(), n.data(), k.data(), alpha.data(), d, ldf.data(), d + count,
                   lds.data(), beta.data(), d + 2 * count, ldc.data(), count, sizes.data(), bf16);
  c.allocator.deallocate(d, bytes);  // stream-ordered reuse
  if (bf16 && st == CUBLAS_STATUS_NOT_SUPPORTED) return false;
  CUBLAS_CHECK(st);
  return true;
}

}  // namespace

namespace {

void grouped_matmul(const std::vector<Tensor>& outs, const std::vector<Tensor>& as, const std::vector<Tensor>& bs) {
  std::vector<size_t> in_place, rest;  // the rest, each through matmul()
  for (size_t i = 0; i < outs.size(); ++i)
    (gemm::in_place(mat_of(as[i]), mat_of(bs[i]), mat_of(outs[i])) ? in_place : rest).push_back(i);
  bool grouped = true;
  if (!in_place.empty()) {
    const bool bf16 = gemm_rounds_to_bf16(outs[0].dtype());
    PROMOE_CUDA_DISPATCH_FLOAT(outs[0].dtype(), "grouped_matmul",
                               grouped = grouped_gemm<T>(outs, as, bs, in_place, bf16));
  }
  if (!grouped) rest.insert(rest.end(), in_place.begin(), in_place.end());
  for (size_t i : rest)  // one product at a time, as the reference runs them
    cuda_backend().matmul(raw::unsqueeze(outs[i], 0), raw::unsqueeze(as[i], 0), raw::unsqueeze(bs[i], 0), 1.0, 0.0);
}

// The fast kernels of moe.grouped_matmul.
const bool registered = register_fused_kernel("moe.grouped_matmul", DeviceType::CUDA, &grouped_matmul);

}  // namespace

}  // namespace promoe::cuda
