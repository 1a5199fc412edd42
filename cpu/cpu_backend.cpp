// CPU backend: memory, host copies, random numbers and the fused AdamW update.
#include "cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>

#include "cpu/strided.h"
#include "tensor/philox.h"
#include "tensor/scalar_math.h"

namespace promoe {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

void* CpuBackend::allocate(size_t nbytes) {
  // 64-byte alignment for SIMD; aligned_alloc needs a size that is a multiple of the alignment.
  size_t rounded = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  PROMOE_CHECK(p, "cpu: out of memory allocating ", nbytes, " bytes");
  size_t now = current_ += nbytes;
  size_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t nbytes) {
  std::free(ptr);
  current_ -= nbytes;
}

void CpuBackend::copy_to_host(void* dst, const void* src, size_t nbytes) { std::memcpy(dst, src, nbytes); }
void CpuBackend::copy_from_host(void* dst, const void* src, size_t nbytes) { std::memcpy(dst, src, nbytes); }

void CpuBackend::uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  PROMOE_DISPATCH_FLOAT(out.dtype(), "uniform", {
    T* o = out.data<T>();
    const int64_t n = out.numel();
_Pragma("omp parallel for schedule(static) if (n > 65536)")
    for (int64_t i = 0; i < n; ++i) o[i] = T(lo + (hi - lo) * philox::uniform(seed, offset + uint64_t(i)));
  });
}

void CpuBackend::normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  PROMOE_DISPATCH_FLOAT(out.dtype(), "normal", {
    T* o = out.data<T>();
    const int64_t n = out.numel();
_Pragma("omp parallel for schedule(static) if (n > 65536)")
    for (int64_t i = 0; i < n; ++i) o[i] = T(mean + std * philox::normal(seed, offset + uint64_t(i)));
  });
}

void CpuBackend::adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                       double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  PROMOE_DISPATCH_FLOAT(param.dtype(), "adamw", {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const int64_t n = param.numel();
_Pragma("omp parallel for schedule(static) if (n > 65536)")
    for (int64_t i = 0; i < n; ++i)
      math::adamw<T>(p[i], g[i], pm[i], pv[i], T(lr), T(beta1), T(beta2), T(eps), T(weight_decay), T(bias1),
                     T(bias2_sqrt));
  });
}

}  // namespace promoe
