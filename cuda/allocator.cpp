// The caching allocator: free lists per size class, with a retry after emptying the cache when the
// driver runs out of memory.
#include "cuda/allocator.h"

#include <algorithm>

#include "cuda/check.h"
#include "cuda/size_class.h"

namespace promoe::cuda {

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t cls = size_class(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(cls);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    cached_ -= cls;
  } else {
    cudaError_t err = cudaMalloc(&p, cls);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the sticky-free error state before retrying
      release_cached_locked();
      err = cudaMalloc(&p, cls);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      PROMOE_FAIL("cuda: cannot allocate ", nbytes, " bytes (size class ", cls, "): ", cudaGetErrorString(err),
                  "; in use ", current_, " bytes, peak ", peak_, ", held from the driver ", reserved_);
    }
    reserved_ += cls;
  }
  live_.emplace(p, cls);
  current_ += nbytes;
  peak_ = std::max(peak_, current_);
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  PROMOE_CHECK(it != live_.end(), "cuda: deallocate of a pointer this allocator does not own");
  const size_t cls = it->second;
  PROMOE_CHECK(cls == size_class(nbytes), "cuda: deallocate with ", nbytes,
               " bytes of a block allocated in size class ", cls);
  live_.erase(it);
  free_[cls].push_back(ptr);
  cached_ += cls;
  current_ -= nbytes;
}

void CachingAllocator::release_cached_locked() {
  CUDA_CHECK(cudaDeviceSynchronize());
  for (auto& [cls, blocks] : free_) {
    for (void* p : blocks) {
      CUDA_CHECK(cudaFree(p));
      reserved_ -= cls;
      cached_ -= cls;
    }
    blocks.clear();
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

size_t CachingAllocator::current_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}
size_t CachingAllocator::peak_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}
void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = current_;
}
size_t CachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}
size_t CachingAllocator::reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reserved_;
}

}  // namespace promoe::cuda
