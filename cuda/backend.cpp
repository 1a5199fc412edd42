// The CUDA backend's context, memory, host copies, error reporting and registration with
// tensor/backend.cpp. Kernels live in the .cu files named after their family.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/cuda_backend.h"

namespace promoe::cuda {

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

Context* make_context() {
  auto* c = new Context;  // never destroyed: tensors in static objects may outlive main()
  CUDA_CHECK(cudaSetDevice(c->device));
  CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasCreate(&c->cublas));
  CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
  // FP32 GEMMs stay IEEE FP32 (parity with the CPU backend) unless TF32 is asked for.
  if (env_flag("PROMOE_CUDA_TF32")) CUBLAS_CHECK(cublasSetMathMode(c->cublas, CUBLAS_TF32_TENSOR_OP_MATH));
  CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, c->device));
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&c->error_flag), sizeof(int)));
  CUDA_CHECK(cudaMemsetAsync(c->error_flag, 0, sizeof(int), c->stream));
  CUDA_CHECK(cudaStreamSynchronize(c->stream));
  return c;
}

Backend* factory() { return &cuda_backend(); }

}  // namespace

Context& context() {
  static Context* c = make_context();
  return *c;
}

CudaBackend& cuda_backend() {
  static CudaBackend* b = new CudaBackend;  // never destroyed, as the context
  return *b;
}

int grid_for(int64_t n, int block) {
  const int64_t cap = int64_t(context().sm_count) * 32;  // enough to fill the device; loops stride the rest
  const int64_t blocks = (n + block - 1) / block;
  return int(std::max<int64_t>(1, std::min(blocks, cap)));
}

void sync_and_check() {
  Context& c = context();
  int flag = 0;
  CUDA_CHECK(cudaMemcpyAsync(&flag, c.error_flag, sizeof(int), cudaMemcpyDeviceToHost, c.stream));
  CUDA_CHECK(cudaStreamSynchronize(c.stream));
  if (flag) {
    CUDA_CHECK(cudaMemsetAsync(c.error_flag, 0, sizeof(int), c.stream));
    PROMOE_FAIL(
        "cuda: an indexing kernel (index_select, index_add, gather or scatter_add) met an index out of "
        "range; the offending elements were skipped (detected at the next synchronisation)");
  }
}

void check_launch(const char* what, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    PROMOE_FAIL("CUDA error: ", cudaGetErrorString(err), " (", cudaGetErrorName(err), ") launching ", what, " at ",
                file, ":", line);
  static const bool sync_each = env_flag("PROMOE_CUDA_SYNC");
  if (sync_each) {
    err = cudaStreamSynchronize(context().stream);
    if (err != cudaSuccess)
      PROMOE_FAIL("CUDA error: ", cudaGetErrorString(err), " (", cudaGetErrorName(err), ") running ", what, " at ",
                  file, ":", line);
  }
}

// ---------------------------------------------------------------------------------------------
// Memory and host copies

void* CudaBackend::allocate(size_t nbytes) { return context().allocator.allocate(nbytes); }
void CudaBackend::deallocate(void* ptr, size_t nbytes) { context().allocator.deallocate(ptr, nbytes); }
size_t CudaBackend::current_bytes() const { return context().allocator.current_bytes(); }
size_t CudaBackend::peak_bytes() const { return context().allocator.peak_bytes(); }
void CudaBackend::reset_peak() { context().allocator.reset_peak(); }

void CudaBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  // sync_and_check() waits for the copy as well as for the kernels before it.
  CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, context().stream));
  sync_and_check();
}

void CudaBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, context().stream));
  // The source is pageable host memory the caller may free on return.
  CUDA_CHECK(cudaStreamSynchronize(context().stream));
}

// ---------------------------------------------------------------------------------------------
// Public entry points (cuda/cuda_backend.h)

bool available() {
  static const bool ok = [] {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return n > 0;
  }();
  return ok;
}

void register_backend() { ::promoe::register_backend(DeviceType::CUDA, &factory, &available); }

namespace {
// Registers the backend before main() runs (promoe_lib links this library whole).
const bool registered = (register_backend(), true);
}  // namespace

size_t cached_bytes() { return available() ? context().allocator.cached_bytes() : 0; }
size_t reserved_bytes() { return available() ? context().allocator.reserved_bytes() : 0; }

void empty_cache() {
  if (available()) context().allocator.empty_cache();
}

void synchronize() {
  if (available()) sync_and_check();
}

}  // namespace promoe::cuda
