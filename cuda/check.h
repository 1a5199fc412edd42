// Error checks for CUDA runtime and cuBLAS calls: a failure throws promoe::Error naming the API
// error, the expression that failed and where, e.g.
//   "CUDA error: out of memory (cudaErrorMemoryAllocation) in cudaMalloc(&p, n) at cuda/allocator.cpp:40"
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "tensor/error.h"

#define CUDA_CHECK(expr)                                                                                          \
  do {                                                                                                            \
    cudaError_t promoe_cuda_err_ = (expr);                                                                        \
    if (promoe_cuda_err_ != cudaSuccess)                                                                          \
      PROMOE_FAIL("CUDA error: ", cudaGetErrorString(promoe_cuda_err_), " (", cudaGetErrorName(promoe_cuda_err_), \
                  ") in ", #expr, " at ", __FILE__, ":", __LINE__);                                               \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                                         \
  do {                                                                                                             \
    cublasStatus_t promoe_cublas_st_ = (expr);                                                                     \
    if (promoe_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                                \
      PROMOE_FAIL("cuBLAS error: ", cublasGetStatusString(promoe_cublas_st_), " (status ", int(promoe_cublas_st_), \
                  ") in ", #expr, " at ", __FILE__, ":", __LINE__);                                                \
  } while (0)

// After a kernel launch: reports launch errors (bad geometry, too much shared memory) at once, and,
// when PROMOE_CUDA_SYNC=1 is set in the environment, waits for the kernel so that a fault is
// reported at the launch that caused it.
#define CUDA_CHECK_LAUNCH(what) ::promoe::cuda::check_launch(what, __FILE__, __LINE__)

namespace promoe::cuda {
void check_launch(const char* what, const char* file, int line);
}  // namespace promoe::cuda
