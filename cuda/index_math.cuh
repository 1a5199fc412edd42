// Index space of the CUDA indexing kernels (cuda/index.cu), host-testable. Each kernel walks a
// shape element by element (flat f); split_offsets() gives view 0's full offset and view 1's
// offset without its `dim` coordinate, plus that coordinate c. The index value j (idx[c] or idx[f])
// then places the element in view 1 at off[1] + j * dim_stride:
//   index_select  walk out   (0 = out, 1 = a):    copy   a at idx[c]
//   index_add     walk src   (0 = src, 1 = out):  add to out at idx[c]
//   gather        walk index (0 = out, 1 = a):    copy   a at idx[f]
//   scatter_add   walk index (0 = src, 1 = out):  add to out at idx[f]
#pragma once
#include <cstdint>

#include "cuda/strided.cuh"
#include "tensor/tensor.h"

namespace promoe::cuda::imath {

PROMOE_HD inline int64_t split_offsets(const Geom<2>& g, int64_t f, int dim, int64_t* off) {
  off[0] = off[1] = 0;
  int64_t at = 0;
  for (int d = g.nd - 1; d >= 0; --d) {
    const int64_t sz = g.size[d];
    const int64_t q = d > 0 ? f / sz : 0;
    const int64_t c = d > 0 ? f - q * sz : f;
    off[0] += c * g.stride[0][d];
    if (d == dim)
      at = c;
    else
      off[1] += c * g.stride[1][d];
    f = q;
  }
  return at;
}

PROMOE_HD inline bool in_range(int64_t i, int64_t bound) { return i >= 0 && i < bound; }

enum class Mode { IndexSelect, IndexAdd, Gather, ScatterAdd };

// Everything a kernel launch needs besides the index pointer (host side).
struct Plan {
  Geom<2> g;
  int dim;
  int64_t bound;       // size of the indexed dim
  int64_t dim_stride;  // stride of the indexed dim in view 1
  bool by_flat;        // index read at f (gather, scatter_add) rather than at c
  bool add;            // accumulate into view 1 rather than copy into view 0
  void* view0;
  void* view1;
};

inline Plan plan(Mode mode, const Tensor& out, const Tensor& other, int64_t dim, const Tensor& index) {
  // other: `a` for the copies, `src` for the adds.
  const bool add = mode == Mode::IndexAdd || mode == Mode::ScatterAdd;
  const bool by_flat = mode == Mode::Gather || mode == Mode::ScatterAdd;
  const Tensor& v0 = add ? other : out;  // walked view
  const Tensor& v1 = add ? out : other;  // indexed view
  const Shape& shape = by_flat ? index.shape() : v0.shape();
  Plan p;
  p.g = make_geom_unmerged<2>(shape, {&v0.strides(), &v1.strides()});
  p.dim = int(dim);
  p.bound = v1.shape()[dim];
  p.dim_stride = v1.strides()[dim];
  p.by_flat = by_flat;
  p.add = add;
  p.view0 = v0.raw_data();
  p.view1 = v1.raw_data();
  return p;
}

}  // namespace promoe::cuda::imath
