// A size-class caching allocator over cudaMalloc (in the manner of PyTorch's CUDA caching
// allocator, much simplified). Freed blocks go to a free list per size class and are handed out
// again without a driver call. All kernels run on one stream, so a block freed on the host may be
// reused at once: work that still reads it was queued earlier on the same stream.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace promoe::cuda {

class CachingAllocator {
 public:
  void* allocate(size_t nbytes);
  void deallocate(void* ptr, size_t nbytes);
  // Returns every cached block to the driver (synchronising the device first).
  void empty_cache();

  size_t current_bytes() const;  // requested bytes of live blocks
  size_t peak_bytes() const;
  void reset_peak();
  size_t cached_bytes() const;    // bytes in free lists
  size_t reserved_bytes() const;  // bytes held from the driver

 private:
  void release_cached_locked();

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  std::unordered_map<void*, size_t> live_;               // block -> size class
  size_t current_ = 0, peak_ = 0, cached_ = 0, reserved_ = 0;
};

}  // namespace promoe::cuda
