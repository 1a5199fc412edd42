// The kernels of the deterministic column sums over (B, N, D) described in cuda/colsum_math.cuh:
// one pass of work items over row chunks, and with several chunks per column a second pass adding
// their double partials in order. Included by the .cu files of the fused kernels.
#pragma once
#include "cuda/colsum_math.cuh"
#include "cuda/common.cuh"

namespace promoe::cuda {

// K outputs (B, D) of element type T.
template <typename T, int K>
struct ColOut {
  T* p[K];
};

template <int K, typename T, typename F>
__global__ void col_sums_kernel(F term, int64_t B, int64_t N, int64_t D, colmath::Split s, ColOut<T, K> out,
                                double* partial) {
  const int64_t items = B * s.parts * D;
  PROMOE_GRID_STRIDE(w, items) {
    double acc[K];
    colmath::item_sums<K>(term, w, N, D, s, acc);
    for (int k = 0; k < K; ++k) {
      if (s.parts == 1)
        out.p[k][w] = T(acc[k]);
      else
        partial[k * items + w] = acc[k];
    }
  }
}

template <int K, typename T>
__global__ void col_combine_kernel(const double* partial, int64_t B, int64_t D, int64_t P, ColOut<T, K> out) {
  PROMOE_GRID_STRIDE(o, B * D) {
    for (int k = 0; k < K; ++k) out.p[k][o] = T(colmath::combine_parts(partial + k * B * P * D, o, D, P));
  }
}

// out.p[k][b, d] = sum_n of term k over (B, N, D), on the backend's stream.
template <int K, typename T, typename F>
void launch_col_sums(const char* what, const F& term, int64_t B, int64_t N, int64_t D, ColOut<T, K> out) {
  const colmath::Split s = colmath::split_for(B, N, D);
  const int64_t items = B * s.parts * D;
  if (items == 0) return;
  cudaStream_t st = context().stream;
  const size_t bytes = s.parts > 1 ? size_t(K * items) * sizeof(double) : 0;
  double* partial = bytes ? static_cast<double*>(context().allocator.allocate(bytes)) : nullptr;
  col_sums_kernel<K><<<grid_for(items, kBlock), kBlock, 0, st>>>(term, B, N, D, s, out, partial);
  CUDA_CHECK_LAUNCH(what);
  if (bytes) {
    col_combine_kernel<K><<<grid_for(B * D, kBlock), kBlock, 0, st>>>(partial, B, D, s.parts, out);
    CUDA_CHECK_LAUNCH(what);
    context().allocator.deallocate(partial, bytes);  // stream-ordered reuse, as in cuda/reduce.cu
  }
}

}  // namespace promoe::cuda
