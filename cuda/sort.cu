// CUDA topk and sort along the last dim of a contiguous tensor (ties: lower index first). Rows of
// up to smath::kRankMaxN elements: a rank kernel over the row in shared memory; longer rows: CUB's
// stable segmented sort on order-preserving integer keys. Orders in cuda/sort_math.cuh.
#include <cub/device/device_segmented_sort.cuh>

#include "cuda/common.cuh"
#include "cuda/sort_math.cuh"

namespace promoe::cuda {

namespace {

// A group of NL lanes per row (NL = 32: eight rows per block; NL = 256: one row per block).
template <typename T, int NL>
__global__ void rank_kernel(const T* x, T* values, int64_t* indices, int64_t rows, int64_t n, int64_t k, bool largest) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int lane = int(threadIdx.x) % NL, group = int(threadIdx.x) / NL, groups = int(blockDim.x) / NL;
  T* row = reinterpret_cast<T*>(smem_raw) + int64_t(group) * n;
  for (int64_t r = int64_t(blockIdx.x) * groups + group; r < rows; r += int64_t(gridDim.x) * groups) {
    const T* xr = x + r * n;
    for (int64_t i = lane; i < n; i += NL) row[i] = xr[i];
    if constexpr (NL == 32)
      __syncwarp();
    else
      __syncthreads();
    for (int64_t i = lane; i < n; i += NL) {
      const int64_t pos = smath::rank_in_row(row, n, i, largest);
      if (pos < k) {
        values[r * k + pos] = row[i];
        indices[r * k + pos] = i;
      }
    }
    if constexpr (NL == 32)
      __syncwarp();
    else
      __syncthreads();
  }
}

template <typename T>
__global__ void keys_kernel(const T* x, uint64_t* keys, int64_t* local, int64_t total, int64_t n, bool descending) {
  PROMOE_GRID_STRIDE(i, total) {
    keys[i] = smath::sort_key(x[i], descending);
    local[i] = i % n;
  }
}

__global__ void offsets_kernel(int64_t* offsets, int64_t rows, int64_t n) {
  PROMOE_GRID_STRIDE(r, rows + 1) offsets[r] = r * n;
}

template <typename T>
__global__ void take_kernel(const T* x, const int64_t* order, T* values, int64_t* indices, int64_t rows, int64_t n,
                            int64_t k) {
  PROMOE_GRID_STRIDE(f, rows * k) {
    const int64_t r = f / k, j = f - r * k;
    const int64_t i = order[r * n + j];
    values[f] = x[r * n + i];
    indices[f] = i;
  }
}

// Device scratch from the caching allocator, returned when it goes out of scope (stream-ordered).
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(size_t b) : p(context().allocator.allocate(b)), bytes(b) {}
  ~Scratch() { context().allocator.deallocate(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename U>
  U* as() const {
    return static_cast<U*>(p);
  }
};

template <typename T>
void ordered_rows(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  const T* x = a.data<T>();
  T* pv = values.data<T>();
  int64_t* pi = indices.data<int64_t>();
  cudaStream_t st = context().stream;
  if (n <= 256) {
    const size_t smem = size_t(kBlock / 32) * size_t(n) * sizeof(T);
    rank_kernel<T, 32><<<grid_for(rows * 32, kBlock), kBlock, smem, st>>>(x, pv, pi, rows, n, k, largest);
    CUDA_CHECK_LAUNCH("topk/sort (rank, short rows)");
  } else if (n <= smath::kRankMaxN) {
    const size_t smem = size_t(n) * sizeof(T);
    rank_kernel<T, 256><<<grid_for(rows * 256, kBlock), kBlock, smem, st>>>(x, pv, pi, rows, n, k, largest);
    CUDA_CHECK_LAUNCH("topk/sort (rank)");
  } else {
    const int64_t total = rows * n;
    Scratch keys_in(total * sizeof(uint64_t)), keys_out(total * sizeof(uint64_t)), local(total * sizeof(int64_t)),
        order(total * sizeof(int64_t)), offsets((rows + 1) * sizeof(int64_t));
    launch_1d("topk/sort (keys)", total, keys_kernel<T>, x, keys_in.as<uint64_t>(), local.as<int64_t>(), total, n,
              largest);
    launch_1d("topk/sort (offsets)", rows + 1, offsets_kernel, offsets.as<int64_t>(), rows, n);
    const int64_t* off = offsets.as<int64_t>();
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(nullptr, temp_bytes, keys_in.as<uint64_t>(),
                                                         keys_out.as<uint64_t>(), local.as<int64_t>(),
                                                         order.as<int64_t>(), total, rows, off, off + 1, st));
    Scratch temp(temp_bytes);
    CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(temp.p, temp_bytes, keys_in.as<uint64_t>(),
                                                         keys_out.as<uint64_t>(), local.as<int64_t>(),
                                                         order.as<int64_t>(), total, rows, off, off + 1, st));
    launch_1d("topk/sort (take)", rows * k, take_kernel<T>, x, order.as<int64_t>(), pv, pi, rows, n, k);
  }
}

}  // namespace

void CudaBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) {
  PROMOE_CUDA_DISPATCH_ALL(a.dtype(), "topk", ordered_rows<T>(values, indices, a, k, largest));
}

void CudaBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& a, bool descending) {
  PROMOE_CUDA_DISPATCH_ALL(a.dtype(), "sort", ordered_rows<T>(values, indices, a, a.shape().back(), descending));
}

}  // namespace promoe::cuda
