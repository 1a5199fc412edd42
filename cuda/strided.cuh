// Strided geometry for CUDA kernels, passed to kernels by value: up to 8 dims shared by NT views of
// the same shape. Host code builds it (merging dims where every view allows, like cpu/strided.h);
// kernels map a flat logical index to one element offset per view with offsets_of(). Both halves
// are plain C++ so tests/test_unit_cuda_math.cpp checks them on the host.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/dtype.h"  // PROMOE_HD
#include "tensor/error.h"
#include "tensor/shape.h"

namespace promoe::cuda {

constexpr int kMaxDims = 8;

template <int NT>
struct Geom {
  int nd = 1;
  int64_t n = 0;  // number of elements
  int64_t size[kMaxDims] = {1};
  int64_t stride[NT][kMaxDims] = {};
};

// Element offsets (in elements, from each view's element 0) of logical row-major index i.
template <int NT>
PROMOE_HD inline void offsets_of(const Geom<NT>& g, int64_t i, int64_t* off) {
  for (int t = 0; t < NT; ++t) off[t] = 0;
  for (int d = g.nd - 1; d > 0; --d) {
    const int64_t sz = g.size[d];
    int64_t q, c;
    if (uint64_t(i) <= 0xffffffffull && uint64_t(sz) <= 0xffffffffull) {  // 32-bit division is far cheaper
      const uint32_t ui = uint32_t(i), us = uint32_t(sz);
      const uint32_t uq = ui / us;
      q = int64_t(uq);
      c = int64_t(ui - uq * us);
    } else {
      q = i / sz;
      c = i - q * sz;
    }
    for (int t = 0; t < NT; ++t) off[t] += c * g.stride[t][d];
    i = q;
  }
  for (int t = 0; t < NT; ++t) off[t] += i * g.stride[t][0];
}

// Host: the geometry of NT views of `shape`, dims of size 1 dropped and mergeable dims merged.
template <int NT>
Geom<NT> make_geom(const Shape& shape, const std::array<const Shape*, NT>& strides) {
  Geom<NT> g;
  g.n = numel_of(shape);
  int nd = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = nd > 0;
    for (int t = 0; t < NT && merge; ++t) merge = g.stride[t][nd - 1] == (*strides[t])[d] * shape[d];
    if (merge) {
      g.size[nd - 1] *= shape[d];
      for (int t = 0; t < NT; ++t) g.stride[t][nd - 1] = (*strides[t])[d];
    } else {
      PROMOE_CHECK(nd < kMaxDims, "cuda: views with more than ", kMaxDims,
                   " non-mergeable dims are not supported (shape ", shape_str(shape), ")");
      g.size[nd] = shape[d];
      for (int t = 0; t < NT; ++t) g.stride[t][nd] = (*strides[t])[d];
      ++nd;
    }
  }
  if (nd == 0) {
    g.size[0] = 1;
    for (int t = 0; t < NT; ++t) g.stride[t][0] = 1;
    nd = 1;
  }
  g.nd = nd;
  return g;
}

// Geometry without merging, for kernels that single out one dim (indexing along `dim`).
template <int NT>
Geom<NT> make_geom_unmerged(const Shape& shape, const std::array<const Shape*, NT>& strides) {
  PROMOE_CHECK(shape.size() <= size_t(kMaxDims), "cuda: tensors with more than ", kMaxDims,
               " dims are not supported (shape ", shape_str(shape), ")");
  Geom<NT> g;
  g.n = numel_of(shape);
  g.nd = shape.empty() ? 1 : int(shape.size());
  g.size[0] = 1;
  for (int t = 0; t < NT; ++t) g.stride[t][0] = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    g.size[d] = shape[d];
    for (int t = 0; t < NT; ++t) g.stride[t][d] = (*strides[t])[d];
  }
  return g;
}

}  // namespace promoe::cuda
