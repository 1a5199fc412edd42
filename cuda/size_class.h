// Size classes of the CUDA caching allocator (pure host code, tested in tests/test_unit_cuda_math.cpp).
// A request is rounded up to 512 bytes, then to a quarter of its power of two: classes run
// 512, 640, 768, 896, 1024, 1280, ... so a block is at most 25% larger than asked for, and blocks
// freed by one step are reused by the next even when token counts per expert vary a little.
#pragma once
#include <cstddef>
#include <cstdint>

namespace promoe::cuda {

constexpr size_t kMinBlock = 512;

constexpr size_t size_class(size_t nbytes) {
  if (nbytes <= kMinBlock) return kMinBlock;
  // 2^k < nbytes <= 2^(k+1); step = 2^(k-2).
  int k = 0;
  for (size_t v = nbytes - 1; v > 1; v >>= 1) ++k;
  size_t step = size_t(1) << (k - 2);
  return (nbytes + step - 1) / step * step;
}

}  // namespace promoe::cuda
