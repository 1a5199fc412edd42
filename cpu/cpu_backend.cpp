// CPU backend: memory (with a cache of large blocks), host copies and random numbers.
#include "cpu/cpu_backend.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cpu/strided.h"
#include "tensor/philox.h"
#include "tensor/scalar_math.h"

namespace promoe {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

namespace {
Backend* factory() { return &cpu_backend(); }
bool available() { return true; }
// Registers the backend before main() runs, as cuda/backend.cpp does (promoe_lib links cpu/ whole).
const bool registered = register_backend(DeviceType::CPU, &factory, &available);
}  // namespace

namespace {

// Blocks of 64 KiB and more are kept for reuse once freed: a training step allocates the same
// activation sizes as the step before, and a fresh block from the C allocator at these sizes is
// mapped anew and costs a page fault per 4 KiB on first touch (measurements in docs/PERF.md,
// "Measurements behind choices in the code"). Sizes are rounded up to one of 8 classes per power of two
// (at most 12.5% slack), so a freed block serves any request of its class. At most 2 GiB are
// cached; smaller blocks go straight to the C allocator.
class BlockCache {
 public:
  static constexpr size_t kMin = size_t(64) << 10, kMaxCached = size_t(2) << 30;

  static size_t size_class(size_t n) {
    if (n < kMin) return (std::max<size_t>(n, 1) + 63) / 64 * 64;  // aligned_alloc wants a multiple of 64
    size_t step = std::bit_floor(n) / 8;
    return (n + step - 1) / step * step;
  }

  void* take(size_t cls) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(cls);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= cls;
    return p;
  }

  // Keeps `p` for reuse, or returns false when the cache is full.
  bool give(void* p, size_t cls) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_ + cls > kMaxCached) return false;
    free_[cls].push_back(p);
    cached_ += cls;
    return true;
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

// Never destroyed: tensors in static storage may be freed after any other static object.
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;
  return *cache;
}

}  // namespace

void* CpuBackend::allocate(size_t nbytes) {
  const size_t cls = BlockCache::size_class(nbytes);
  void* p = cls >= BlockCache::kMin ? block_cache().take(cls) : nullptr;
  if (!p) p = std::aligned_alloc(64, cls);  // 64-byte alignment for SIMD
  if (!p) {                                 // out of memory: give the cached blocks back and try once more
    block_cache().release_all();
    p = std::aligned_alloc(64, cls);
  }
  PROMOE_CHECK(p, "cpu: out of memory allocating ", nbytes, " bytes");
  size_t now = current_ += nbytes;
  size_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t nbytes) {
  const size_t cls = BlockCache::size_class(nbytes);
  if (cls < BlockCache::kMin || !block_cache().give(ptr, cls)) std::free(ptr);
  current_ -= nbytes;
}

void CpuBackend::empty_cache() { block_cache().release_all(); }
size_t CpuBackend::cached_bytes() const { return block_cache().cached(); }

void CpuBackend::copy_to_host(void* dst, const void* src, size_t nbytes) { std::memcpy(dst, src, nbytes); }
void CpuBackend::copy_from_host(void* dst, const void* src, size_t nbytes) { std::memcpy(dst, src, nbytes); }

void CpuBackend::uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  cpu::dispatch_float(out.dtype(), "uniform", [&]<typename T>() {
    T* o = out.data<T>();
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) o[i] = T(lo + (hi - lo) * philox::uniform(seed, offset + uint64_t(i)));
  });
}

void CpuBackend::normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  cpu::dispatch_float(out.dtype(), "normal", [&]<typename T>() {
    T* o = out.data<T>();
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) o[i] = T(mean + std * philox::normal(seed, offset + uint64_t(i)));
  });
}

}  // namespace promoe
