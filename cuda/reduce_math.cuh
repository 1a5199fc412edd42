// Per-element math and work split of the CUDA reductions (cuda/reduce.cu), host-testable.
//
// reduce: `a` is (kept..., reduced...). Output m's reduced region of R elements is cut into P
// chunks; work item w = m * P + p covers reduced indices [p * chunk, min(R, (p + 1) * chunk)),
// visited by the lanes of one warp (lane l takes r = begin + l, begin + l + 32, ...). Every value
// accumulates in double, as on the CPU. With P > 1 a second pass combines the P partials.
//
// arg_reduce: the lanes of a warp each keep a (value, index) candidate over i = l, l + 32, ...
// and candidates are merged with arg_better(), which reproduces the CPU's sequential scan exactly:
// the best value, first index among equals, and the first NaN if there is one (as PyTorch).
//
// sum_of_squares: the tensors go to launches of up to kSqBatch, each described by value (SqBatch).
// Tensor t gets blocks[t] blocks (grid y = t; blocks past blocks[t] return at once); thread j of
// block k sums x * x in double over elements k * block + j, stepping by blocks[t] * block, and the
// block's total goes to slot first[t] + k. One block then adds all slots in a fixed order, so the
// result repeats bit for bit and the host waits once for all tensors.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/strided.cuh"
#include "tensor/backend.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace promoe::cuda::rmath {

PROMOE_HD inline double inf() {
  const uint64_t bits = 0x7ff0000000000000ull;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

PROMOE_HD inline double nan_value() {
  const uint64_t bits = 0x7ff8000000000000ull;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

PROMOE_HD inline double identity(ReduceOp op) {
  if (op == ReduceOp::Max) return -inf();
  if (op == ReduceOp::Min) return inf();
  return 0.0;
}

// Associative combine; max/min propagate NaN as the CPU does.
PROMOE_HD inline double combine(ReduceOp op, double a, double b) {
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) return a + b;
  if (a != a || b != b) return nan_value();
  if (op == ReduceOp::Max) return a > b ? a : b;
  return a < b ? a : b;
}

template <typename T>
PROMOE_HD inline T finalize(ReduceOp op, double acc, int64_t count) {
  if (op == ReduceOp::Mean) acc /= double(count);
  return T(acc);
}

struct Split {
  int64_t parts;  // P
  int64_t chunk;  // reduced elements per work item
};

// Enough work items to fill a GPU (~4096 warps in flight) without chunks shorter than 1024.
inline Split split_for(int64_t M, int64_t R) {
  int64_t p = 1;
  if (M < 4096 && R > 2048) {
    const int64_t want = (4096 + M - 1) / M, most = (R + 1023) / 1024;
    p = want < most ? want : most;
  }
  if (p < 1) p = 1;
  return {p, (R + p - 1) / p};
}

// Host: the launch plan of reduce(out, a, n_reduced).
struct Plan {
  Geom<1> kept, red;  // offsets of output m's region and of reduced element r within it
  int64_t M, R;
  bool by_thread;  // a thread per output (kept dims contiguous, reduced ones strided)
  Split split;     // else warps over work items
};

inline Plan plan(const Tensor& out, const Tensor& a, int64_t n_reduced) {
  const int64_t nk = a.dim() - n_reduced;
  const Shape kept_shape(a.shape().begin(), a.shape().begin() + nk);
  const Shape kept_strides(a.strides().begin(), a.strides().begin() + nk);
  const Shape red_shape(a.shape().begin() + nk, a.shape().end());
  const Shape red_strides(a.strides().begin() + nk, a.strides().end());
  Plan p;
  p.kept = make_geom<1>(kept_shape, {&kept_strides});
  p.red = make_geom<1>(red_shape, {&red_strides});
  p.M = out.numel();
  p.R = numel_of(red_shape);
  p.by_thread = p.M >= 2048 && p.kept.stride[0][p.kept.nd - 1] == 1 && p.red.stride[0][p.red.nd - 1] != 1;
  p.split = split_for(p.M, p.R);
  return p;
}

// Host: the launch plan of arg_reduce(values, indices, a) over the last dim of `a`.
struct ArgPlan {
  Geom<1> rows_geom;    // offset of row r
  int64_t rows, n, is;  // rows, row length, stride along the row
};

inline ArgPlan arg_plan(const Tensor& values, const Tensor& a) {
  const Shape row_shape(a.shape().begin(), a.shape().end() - 1),
      row_strides(a.strides().begin(), a.strides().end() - 1);
  return {make_geom<1>(row_shape, {&row_strides}), values.numel(), a.shape().back(), a.strides().back()};
}

// arg_reduce candidate order: any NaN beats any number; among NaNs or equal numbers the lower
// index wins.
template <typename T>
PROMOE_HD inline bool arg_better(bool is_max, T va, int64_t ia, T vb, int64_t ib) {
  const bool na = va != va, nb = vb != vb;
  if (na != nb) return na;
  if (!na && va != vb) return is_max ? va > vb : va < vb;
  return ia < ib;
}

constexpr int kSqBatch = 64;

struct SqBatch {
  int count = 0, max_blocks = 0;
  const void* data[kSqBatch];
  int64_t n[kSqBatch], first[kSqBatch];
  int blocks[kSqBatch];
  bool f64[kSqBatch];
};

struct SqPlan {
  std::vector<SqBatch> batches;
  int64_t slots = 0;  // block totals over all batches
};

// Host: at least 8 elements per thread, at most 1024 blocks (enough to fill a GPU) per tensor.
inline SqPlan sq_plan(const std::vector<Tensor>& ts, int block) {
  SqPlan p;
  for (const Tensor& t : ts) {
    if (t.numel() == 0) continue;
    if (p.batches.empty() || p.batches.back().count == kSqBatch) p.batches.emplace_back();
    SqBatch& b = p.batches.back();
    const int64_t per_block = int64_t(block) * 8, want = (t.numel() + per_block - 1) / per_block;
    const int i = b.count++;
    b.f64[i] = t.dtype() == DType::F64;
    b.data[i] = t.raw_data();
    b.n[i] = t.numel();
    b.blocks[i] = int(want < 1024 ? want : 1024);
    b.first[i] = p.slots;
    p.slots += b.blocks[i];
    if (b.blocks[i] > b.max_blocks) b.max_blocks = b.blocks[i];
  }
  return p;
}

// One thread's share of a tensor of n elements.
template <typename T>
PROMOE_HD inline double thread_sum_sq(const T* x, int64_t n, int64_t first, int64_t step) {
  double s = 0;
  for (int64_t i = first; i < n; i += step) s += double(x[i]) * double(x[i]);
  return s;
}

}  // namespace promoe::cuda::rmath
