// The CUDA backend class (its kernels are spread over cuda/*.cu by family, as in cpu/) and the
// per-process context it runs in: device 0, one stream that every kernel, copy and cuBLAS call
// uses, a cuBLAS handle and a device flag that indexing kernels raise on an out-of-range index.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/allocator.h"
#include "tensor/backend.h"

namespace promoe::cuda {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  int sm_count = 1;
  int* error_flag = nullptr;  // device int: bit 0 = index out of range
  CachingAllocator allocator;
};

// The context, created on first use (sets the device, creates the stream and handle).
Context& context();

// Grid size for a grid-stride loop over n items with `block` threads per block.
int grid_for(int64_t n, int block);

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  size_t current_bytes() const override;
  size_t peak_bytes() const override;
  void reset_peak() override;

  void copy(const Tensor& out, const Tensor& a) override;
  void fill(const Tensor& out, double value) override;
  void arange(const Tensor& out, double start, double step) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;

  void reduce(ReduceOp op, const Tensor& out, const Tensor& a, int64_t n_reduced) override;
  void arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& a) override;

  void matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) override;

  void softmax(const Tensor& out, const Tensor& a, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) override;
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) override;
  void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a, const Tensor& mean,
                           const Tensor& rstd) override;

  void index_select(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& a, bool descending) override;

  void uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;
};

CudaBackend& cuda_backend();

// Waits for the stream and throws if a kernel raised the error flag.
void sync_and_check();

}  // namespace promoe::cuda

// Binds `T` to the C++ type of a dtype (bf16 is stored as uint16_t bits) in host dispatch code.
#define PROMOE_CUDA_DISPATCH_FLOAT(dtype, op, ...)                          \
  switch (dtype) {                                                          \
    case ::promoe::DType::F32: {                                            \
      using T = float;                                                      \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    case ::promoe::DType::F64: {                                            \
      using T = double;                                                     \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    default:                                                                \
      PROMOE_FAIL(op, ": unsupported dtype ", ::promoe::dtype_name(dtype)); \
  }

#define PROMOE_CUDA_DISPATCH_ALL(dtype, op, ...)                            \
  switch (dtype) {                                                          \
    case ::promoe::DType::F32: {                                            \
      using T = float;                                                      \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    case ::promoe::DType::F64: {                                            \
      using T = double;                                                     \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    case ::promoe::DType::I64: {                                            \
      using T = int64_t;                                                    \
      __VA_ARGS__;                                                          \
      break;                                                                \
    }                                                                       \
    default:                                                                \
      PROMOE_FAIL(op, ": unsupported dtype ", ::promoe::dtype_name(dtype)); \
  }

#define PROMOE_CUDA_DISPATCH_STORAGE(dtype, ...) \
  switch (dtype) {                               \
    case ::promoe::DType::F32: {                 \
      using T = float;                           \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
    case ::promoe::DType::F64: {                 \
      using T = double;                          \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
    case ::promoe::DType::I64: {                 \
      using T = int64_t;                         \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
    case ::promoe::DType::BF16: {                \
      using T = uint16_t;                        \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
  }
