// CUDA reductions: sum / mean / max / min over trailing reduced dims (kept dims strided), arg max /
// min over the last dim, and the sum of squares of many tensors (one pass, one host wait). Work
// split and math in cuda/reduce_math.cuh.
//
// Two kernels for reduce: a warp per work item (reduced elements read by 32 lanes side by side,
// for reductions along contiguous memory), and a thread per output when the kept dims are the
// contiguous ones (a column sum of (N, D) over N: neighbouring threads read neighbouring columns).
#include "cuda/common.cuh"
#include "cuda/reduce_math.cuh"
#include "tensor/fused.h"

namespace promoe::cuda {

namespace {

template <typename T>
__global__ void reduce_warp_kernel(const T* x, T* out, double* partial, Geom<1> kept, Geom<1> red, int64_t M, int64_t R,
                                   int64_t P, int64_t chunk, ReduceOp op) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t w = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; w < M * P; w += warps) {
    const int64_t m = w / P, p = w % P;
    int64_t base;
    offsets_of(kept, m, &base);
    const int64_t begin = p * chunk, end = begin + chunk < R ? begin + chunk : R;
    double acc = rmath::identity(op);
    for (int64_t r = begin + lane; r < end; r += 32) {
      int64_t off;
      offsets_of(red, r, &off);
      acc = rmath::combine(op, acc, double(x[base + off]));
    }
    for (int s = 16; s > 0; s >>= 1) acc = rmath::combine(op, acc, __shfl_xor_sync(0xffffffffu, acc, s));
    if (lane == 0) {
      if (P == 1)
        out[m] = rmath::finalize<T>(op, acc, R);
      else
        partial[w] = acc;
    }
  }
}

template <typename T>
__global__ void reduce_partials_kernel(const double* partial, T* out, int64_t M, int64_t R, int64_t P, ReduceOp op) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t m = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; m < M; m += warps) {
    double acc = rmath::identity(op);
    for (int64_t p = lane; p < P; p += 32) acc = rmath::combine(op, acc, partial[m * P + p]);
    for (int s = 16; s > 0; s >>= 1) acc = rmath::combine(op, acc, __shfl_xor_sync(0xffffffffu, acc, s));
    if (lane == 0) out[m] = rmath::finalize<T>(op, acc, R);
  }
}

template <typename T>
__global__ void reduce_thread_kernel(const T* x, T* out, Geom<1> kept, Geom<1> red, int64_t M, int64_t R, ReduceOp op) {
  PROMOE_GRID_STRIDE(m, M) {
    int64_t base;
    offsets_of(kept, m, &base);
    double acc = rmath::identity(op);
    for (int64_t r = 0; r < R; ++r) {
      int64_t off;
      offsets_of(red, r, &off);
      acc = rmath::combine(op, acc, double(x[base + off]));
    }
    out[m] = rmath::finalize<T>(op, acc, R);
  }
}

template <typename T>
__global__ void arg_reduce_kernel(const T* x, T* values, int64_t* indices, Geom<1> rows_geom, int64_t rows, int64_t n,
                                  int64_t is, bool is_max) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < rows; r += warps) {
    int64_t base;
    offsets_of(rows_geom, r, &base);
    const T* p = x + base;
    T best = T(0);
    int64_t bi = -1;  // -1: this lane has no candidate
    for (int64_t i = lane; i < n; i += 32) {
      const T v = p[i * is];
      if (bi < 0 || rmath::arg_better(is_max, v, i, best, bi)) {
        best = v;
        bi = i;
      }
    }
    for (int s = 16; s > 0; s >>= 1) {
      const T ov = __shfl_xor_sync(0xffffffffu, best, s);
      const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, s);
      if (oi >= 0 && (bi < 0 || rmath::arg_better(is_max, ov, oi, best, bi))) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      values[r] = best;
      indices[r] = bi;
    }
  }
}

// Grid (max_blocks, count): block (k, t) writes tensor t's block total k.
__global__ void sum_sq_kernel(rmath::SqBatch b, double* slots) {
  const int t = blockIdx.y, k = blockIdx.x;
  if (k >= b.blocks[t]) return;  // the whole block: no thread reaches the reduction
  __shared__ double smem[kBlock / 32];
  const int64_t first = int64_t(k) * blockDim.x + threadIdx.x, step = int64_t(b.blocks[t]) * blockDim.x;
  const double s = b.f64[t] ? rmath::thread_sum_sq(static_cast<const double*>(b.data[t]), b.n[t], first, step)
                            : rmath::thread_sum_sq(static_cast<const float*>(b.data[t]), b.n[t], first, step);
  const double total = group_reduce<kBlock>(s, SumOp{}, smem);
  if (threadIdx.x == 0) slots[b.first[t] + k] = total;
}

// One block: out = the sum of n slots.
__global__ void sum_slots_kernel(const double* slots, int64_t n, double* out) {
  __shared__ double smem[kBlock / 32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += slots[i];
  const double total = group_reduce<kBlock>(s, SumOp{}, smem);
  if (threadIdx.x == 0) *out = total;
}

int warp_grid(int64_t items) { return grid_for(items * 32, kBlock); }

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& a, int64_t n_reduced) {
  const rmath::Plan p = rmath::plan(out, a, n_reduced);
  if (p.M == 0) return;
  cudaStream_t st = context().stream;
  PROMOE_CUDA_DISPATCH_ALL(a.dtype(), "reduce", {
    const T* x = a.data<T>();
    T* o = out.data<T>();
    if (p.by_thread) {
      reduce_thread_kernel<T><<<grid_for(p.M, kBlock), kBlock, 0, st>>>(x, o, p.kept, p.red, p.M, p.R, op);
      CUDA_CHECK_LAUNCH("reduce");
    } else {
      const int64_t P = p.split.parts, items = p.M * P;
      double* partial = nullptr;
      if (P > 1) partial = static_cast<double*>(context().allocator.allocate(size_t(items) * sizeof(double)));
      reduce_warp_kernel<T>
          <<<warp_grid(items), kBlock, 0, st>>>(x, o, partial, p.kept, p.red, p.M, p.R, P, p.split.chunk, op);
      CUDA_CHECK_LAUNCH("reduce");
      if (P > 1) {
        reduce_partials_kernel<T><<<warp_grid(p.M), kBlock, 0, st>>>(partial, o, p.M, p.R, P, op);
        CUDA_CHECK_LAUNCH("reduce (combine partials)");
        context().allocator.deallocate(partial, size_t(items) * sizeof(double));  // stream-ordered reuse
      }
    }
  });
}

void CudaBackend::arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& a) {
  const rmath::ArgPlan p = rmath::arg_plan(values, a);
  const bool is_max = op == ReduceOp::Max;
  PROMOE_CUDA_DISPATCH_ALL(a.dtype(), "max/min", {
    arg_reduce_kernel<T><<<warp_grid(p.rows), kBlock, 0, context().stream>>>(
        a.data<T>(), values.data<T>(), indices.data<int64_t>(), p.rows_geom, p.rows, p.n, p.is, is_max);
    CUDA_CHECK_LAUNCH("arg_reduce");
  });
}

namespace {

double sum_of_squares(const std::vector<Tensor>& ts) {
  const rmath::SqPlan p = rmath::sq_plan(ts, kBlock);
  if (p.slots == 0) return 0.0;
  Context& c = context();
  const size_t bytes = size_t(p.slots + 1) * sizeof(double);  // block totals, then the result
  double* slots = static_cast<double*>(c.allocator.allocate(bytes));
  for (const rmath::SqBatch& b : p.batches) {
    sum_sq_kernel<<<dim3(b.max_blocks, b.count), kBlock, 0, c.stream>>>(b, slots);
    CUDA_CHECK_LAUNCH("sum_of_squares");
  }
  sum_slots_kernel<<<1, kBlock, 0, c.stream>>>(slots, p.slots, slots + p.slots);
  CUDA_CHECK_LAUNCH("sum_of_squares (total)");
  c.allocator.deallocate(slots, bytes);  // stream-ordered: the copy below is queued before any reuse
  double total = 0;
  cuda_backend().copy_to_host(&total, slots + p.slots, sizeof(double));  // the one wait
  return total;
}

// The fast kernel of optim.sum_of_squares (one pass over all tensors, one wait).
const bool registered = register_fused_kernel("optim.sum_of_squares", DeviceType::CUDA, &sum_of_squares);

}  // namespace

}  // namespace promoe::cuda
