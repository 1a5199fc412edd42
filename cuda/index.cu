// CUDA indexing kernels along a dim with an i64 index: index_select, index_add, gather,
// scatter_add (the adds are atomic, so repeated indices accumulate; float sums are therefore not
// bit-reproducible). An index out of range skips its element and raises the context's error flag,
// reported at the next synchronisation. Index space in cuda/index_math.cuh.
#include "cuda/common.cuh"
#include "cuda/index_math.cuh"

namespace promoe::cuda {

namespace {

__device__ inline void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ inline void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ inline void atomic_add(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));  // two's complement
}

template <typename T, bool BY_FLAT, bool ADD>
__global__ void index_kernel(Geom<2> g, int dim, const int64_t* idx, int64_t bound, int64_t dim_stride, T* v0, T* v1,
                             int* error_flag) {
  PROMOE_GRID_STRIDE(f, g.n) {
    int64_t off[2];
    const int64_t c = imath::split_offsets(g, f, dim, off);
    const int64_t j = BY_FLAT ? idx[f] : idx[c];
    if (!imath::in_range(j, bound)) {
      *error_flag = 1;
      continue;
    }
    const int64_t at = off[1] + j * dim_stride;
    if constexpr (ADD)
      atomic_add(v1 + at, v0[off[0]]);
    else
      v0[off[0]] = v1[at];
  }
}

template <typename T, bool BY_FLAT, bool ADD>
void launch(const char* what, const imath::Plan& p, const Tensor& index) {
  launch_1d(what, p.g.n, index_kernel<T, BY_FLAT, ADD>, p.g, p.dim, index.data<int64_t>(), p.bound, p.dim_stride,
            static_cast<T*>(p.view0), static_cast<T*>(p.view1), context().error_flag);
}

void run(const char* what, imath::Mode mode, const Tensor& out, const Tensor& other, int64_t dim, const Tensor& index) {
  const imath::Plan p = imath::plan(mode, out, other, dim, index);
  PROMOE_CUDA_DISPATCH_ALL(out.dtype(), what, {
    switch (mode) {
      case imath::Mode::IndexSelect:
        launch<T, false, false>(what, p, index);
        break;
      case imath::Mode::IndexAdd:
        launch<T, false, true>(what, p, index);
        break;
      case imath::Mode::Gather:
        launch<T, true, false>(what, p, index);
        break;
      case imath::Mode::ScatterAdd:
        launch<T, true, true>(what, p, index);
        break;
    }
  });
}

}  // namespace

void CudaBackend::index_select(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) {
  run("index_select", imath::Mode::IndexSelect, out, a, dim, index);
}

void CudaBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  run("index_add", imath::Mode::IndexAdd, out, src, dim, index);
}

void CudaBackend::gather(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) {
  run("gather", imath::Mode::Gather, out, a, dim, index);
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  run("scatter_add", imath::Mode::ScatterAdd, out, src, dim, index);
}

}  // namespace promoe::cuda
