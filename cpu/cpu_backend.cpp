// CPU backend: memory (with a cache of large blocks), host copies, random numbers and the fused
// AdamW update.
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
// mapped anew and costs a page fault per 4 KiB on first touch (it halves the bandwidth of an
// elementwise op on 64 MiB; at 64 KiB-1 MiB, the size of a small model's activations, page
// clearing took 5% of a training step). Sizes are rounded up to one of 8 classes per power of two
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

// The list-wide kernels (AdamW, EMA, sum of squares) cut every tensor of the list into fixed slices
// of kChunk elements and run all slices in one parallel loop: a model of many small tensors (a bank
// of experts) pays one parallel region, and sums taken per slice do not depend on the thread count.
constexpr int64_t kChunk = 16384;
struct Chunk {
  size_t slot;  // which tensor of the list
  int64_t begin, end;
};
std::vector<Chunk> chunks_of(const std::vector<Tensor>& ts) {
  std::vector<Chunk> chunks;
  for (size_t s = 0; s < ts.size(); ++s)
    for (int64_t b = 0; b < ts[s].numel(); b += kChunk) chunks.push_back({s, b, std::min(ts[s].numel(), b + kChunk)});
  return chunks;
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
  PROMOE_DISPATCH_FLOAT(out.dtype(), "uniform", {
    T* o = out.data<T>();
    const int64_t n = out.numel();
    _Pragma("omp parallel for schedule(static) if (n > 65536)") for (int64_t i = 0; i < n; ++i) o[i] =
        T(lo + (hi - lo) * philox::uniform(seed, offset + uint64_t(i)));
  });
}

void CpuBackend::normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  PROMOE_DISPATCH_FLOAT(out.dtype(), "normal", {
    T* o = out.data<T>();
    const int64_t n = out.numel();
    _Pragma("omp parallel for schedule(static) if (n > 65536)") for (int64_t i = 0; i < n; ++i) o[i] =
        T(mean + std * philox::normal(seed, offset + uint64_t(i)));
  });
}

void CpuBackend::adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                       double beta1, double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  PROMOE_DISPATCH_FLOAT(param.dtype(), "adamw", {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const int64_t n = param.numel();
    const T gs = T(grad_scale);
    _Pragma("omp parallel for simd schedule(static) if (n > 8192)") for (int64_t i = 0; i < n; ++i) math::adamw<T>(
        p[i], g[i] * gs, pm[i], pv[i], T(lr), T(beta1), T(beta2), T(eps), T(weight_decay), T(bias1), T(bias2_sqrt));
  });
}

// Chunks of at most 16K elements over all slots, shared out in one parallel loop; each element's
// update is adamw()'s, so the result does not depend on the grouping.
void CpuBackend::adamw_group(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                             const std::vector<Tensor>& ms, const std::vector<Tensor>& vs, double lr, double beta1,
                             double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  for (const Tensor& p : params)
    PROMOE_CHECK(p.dtype() == params[0].dtype(), "adamw_group: parameters of different dtypes");
  const std::vector<Chunk> chunks = chunks_of(params);
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  const int64_t n = int64_t(chunks.size());
  if (n == 0) return;
  PROMOE_DISPATCH_FLOAT(params[0].dtype(), "adamw", {
    const T gs = T(grad_scale);
    _Pragma("omp parallel for schedule(static) if (n > 1)") for (int64_t c = 0; c < n; ++c) {
      const Chunk& k = chunks[c];
      T* p = params[k.slot].data<T>();
      const T* g = grads[k.slot].data<T>();
      T* pm = ms[k.slot].data<T>();
      T* pv = vs[k.slot].data<T>();
      _Pragma("omp simd") for (int64_t i = k.begin; i < k.end; ++i) math::adamw<T>(
          p[i], g[i] * gs, pm[i], pv[i], T(lr), T(beta1), T(beta2), T(eps), T(weight_decay), T(bias1), T(bias2_sqrt));
    }
  });
}

// shadow = decay * shadow + (1 - decay) * param, as torch's mul_(decay).add_(param, alpha=1 - decay).
void CpuBackend::ema_group(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) {
  for (const Tensor& p : params) PROMOE_CHECK(p.dtype() == params[0].dtype(), "ema_group: tensors of different dtypes");
  const std::vector<Chunk> chunks = chunks_of(params);
  const int64_t n = int64_t(chunks.size());
  if (n == 0) return;
  PROMOE_DISPATCH_FLOAT(params[0].dtype(), "ema_group", {
    const T keep = T(decay), take = T(1.0 - decay);
    _Pragma("omp parallel for schedule(static) if (n > 1)") for (int64_t c = 0; c < n; ++c) {
      const Chunk& k = chunks[c];
      T* s = shadows[k.slot].data<T>();
      const T* p = params[k.slot].data<T>();
      _Pragma("omp simd") for (int64_t i = k.begin; i < k.end; ++i) s[i] = s[i] * keep + p[i] * take;
    }
  });
}

// Fixed chunks over all tensors, each summed in double, added in order: one parallel pass, and a
// result that does not depend on the thread count.
double CpuBackend::sum_of_squares(const std::vector<Tensor>& ts) {
  const std::vector<Chunk> chunks = chunks_of(ts);
  const int64_t n = int64_t(chunks.size());
  std::vector<double> partial(n);
  _Pragma("omp parallel for schedule(static) if (n > 4)") for (int64_t i = 0; i < n; ++i) {
    const Chunk& c = chunks[i];
    double acc = 0;
    PROMOE_DISPATCH_FLOAT(ts[c.slot].dtype(), "sum_of_squares", {
      const T* x = ts[c.slot].data<T>();
      _Pragma("omp simd reduction(+ : acc)") for (int64_t j = c.begin; j < c.end; ++j) acc +=
          double(x[j]) * double(x[j]);
    });
    partial[i] = acc;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace promoe
