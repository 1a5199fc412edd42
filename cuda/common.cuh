// Device-side helpers shared by the kernels in cuda/*.cu: the grid-stride loop, warp and block
// reductions, the loop and launch of row kernels. Only .cu files include this; the math the kernels
// apply lives in the *_math.cuh headers, which host tests include too.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/strided.cuh"

namespace promoe::cuda {

constexpr int kBlock = 256;

#define PROMOE_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

// Sum / max over the 32 lanes of a warp (result in every lane). Fixed butterfly order, so runs
// repeat bit for bit.
template <typename V, typename Op>
__device__ inline V warp_reduce(V v, Op op) {
  for (int m = 16; m > 0; m >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, m));
  return v;
}

// Reduction over the NL threads (32 = one warp, or a whole block of NL threads) that share a row.
// `smem` holds NL/32 values; the result is returned to every thread of the group.
template <int NL, typename V, typename Op>
__device__ inline V group_reduce(V v, Op op, V* smem) {
  v = warp_reduce(v, op);
  if constexpr (NL == 32) {
    return v;
  } else {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // smem may still be read from a previous reduction
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    V r = smem[0];
    for (int w = 1; w < NL / 32; ++w) r = op(r, smem[w]);
    return r;
  }
}

// Rows of n elements shared by groups of NL lanes (a warp, or a block of NL threads): the body runs
// for each row r of this thread's group, with `lane` in [0, NL) and `smem` for group_reduce<NL>.
#define PROMOE_ROW_LOOP(r, rows)                                         \
  const int lane = int(threadIdx.x) % NL, groups = int(blockDim.x) / NL; \
  __shared__ double smem[NL / 32];                                       \
  for (int64_t r = int64_t(blockIdx.x) * groups + int(threadIdx.x) / NL; r < (rows); r += int64_t(gridDim.x) * groups)

// Runs KERNEL<T, NL> over `rows` rows of length n: NL = 32 (a warp per row) up to n = 1024, else 256.
#define PROMOE_ROW_LAUNCH(KERNEL, what, rows, n, ...)                                             \
  do {                                                                                            \
    if ((n) <= 1024)                                                                              \
      KERNEL<T, 32><<<grid_for((rows)*32, kBlock), kBlock, 0, context().stream>>>(__VA_ARGS__);   \
    else                                                                                          \
      KERNEL<T, 256><<<grid_for((rows)*256, kBlock), kBlock, 0, context().stream>>>(__VA_ARGS__); \
    CUDA_CHECK_LAUNCH(what);                                                                      \
  } while (0)

struct SumOp {
  template <typename V>
  __device__ V operator()(V a, V b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename V>
  __device__ V operator()(V a, V b) const {
    return a > b ? a : b;
  }
};

// Launches `kernel` over a grid-stride loop of n items on the backend's stream.
template <typename Kernel, typename... Args>
void launch_1d(const char* what, int64_t n, Kernel kernel, Args... args) {
  if (n <= 0) return;
  kernel<<<grid_for(n, kBlock), kBlock, 0, context().stream>>>(args...);
  CUDA_CHECK_LAUNCH(what);
}

}  // namespace promoe::cuda

namespace promoe::cuda {

// The strided elementwise kernel: f(offsets) for every logical element of a geometry of NT views.
template <int NT, typename F>
__global__ void strided_kernel(Geom<NT> g, F f) {
  PROMOE_GRID_STRIDE(i, g.n) {
    int64_t off[NT];
    offsets_of(g, i, off);
    f(off);
  }
}

template <int NT, typename F>
void launch_strided(const char* what, const Geom<NT>& g, F f) {
  launch_1d(what, g.n, strided_kernel<NT, F>, g, f);
}

}  // namespace promoe::cuda
