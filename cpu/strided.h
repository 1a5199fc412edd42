// Helpers for CPU kernels: dtype dispatch and parallel iteration over strided views.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::cpu {

// Calls fn.template operator()<T>() with T the C++ type of a floating dtype (f32, f64), for a
// templated lambda `[&]<typename T>() { ... }`; throws naming `op` for any other dtype.
template <typename Fn>
decltype(auto) dispatch_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::F32:
      return fn.template operator()<float>();
    case DType::F64:
      return fn.template operator()<double>();
    default:
      PROMOE_FAIL(op, ": unsupported dtype ", dtype_name(dtype));
  }
}

// As above, plus i64.
template <typename Fn>
decltype(auto) dispatch_all(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::F32:
      return fn.template operator()<float>();
    case DType::F64:
      return fn.template operator()<double>();
    case DType::I64:
      return fn.template operator()<int64_t>();
    default:
      PROMOE_FAIL(op, ": unsupported dtype ", dtype_name(dtype));
  }
}

// The geometry of NT same-shaped views with their dims merged where every view allows it.
template <int NT>
struct Layout {
  Shape shape;
  std::array<Shape, NT> strides;
};

template <int NT>
Layout<NT> collapse(const Shape& shape, const std::array<const Shape*, NT>& strides) {
  Layout<NT> l;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !l.shape.empty();
    for (int t = 0; t < NT && merge; ++t) merge = l.strides[t].back() == (*strides[t])[d] * shape[d];
    if (merge) {
      l.shape.back() *= shape[d];
      for (int t = 0; t < NT; ++t) l.strides[t].back() = (*strides[t])[d];
    } else {
      l.shape.push_back(shape[d]);
      for (int t = 0; t < NT; ++t) l.strides[t].push_back((*strides[t])[d]);
    }
  }
  if (l.shape.empty()) {
    l.shape.push_back(1);
    for (int t = 0; t < NT; ++t) l.strides[t].push_back(1);
  }
  return l;
}

// Calls row(offsets, n, inner_strides) over 1-D runs covering every element of NT same-shaped
// views, in parallel. Offsets are in elements from each view's element 0. Each thread takes one
// contiguous block of runs and steps from run to run by carrying an index over the outer dims
// (no division per run: short runs, such as the rows of a broadcast op, cost little more than
// their elements).
template <int NT, typename Row>
void for_each_row(const Shape& shape, const std::array<const Shape*, NT>& strides, Row row) {
  Layout<NT> l = collapse<NT>(shape, strides);
  const int64_t nd = int64_t(l.shape.size());
  const int64_t inner = l.shape.back();
  std::array<int64_t, NT> inner_stride;
  for (int t = 0; t < NT; ++t) inner_stride[t] = l.strides[t].back();
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= l.shape[d];
  if (outer == 1) {  // one long run: chunks of it, so that every thread gets work
    const int64_t chunk = std::max<int64_t>(4096, inner / 64 + 1), chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (chunks > 1 && inner > 32768)
    for (int64_t c = 0; c < chunks; ++c) {
      std::array<int64_t, NT> off;
      for (int t = 0; t < NT; ++t) off[t] = c * chunk * inner_stride[t];
      row(off, std::min(chunk, inner - c * chunk), inner_stride);
    }
    return;
  }
#pragma omp parallel if (outer * inner > 32768)
  {
    const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    const int64_t begin = outer * me / threads, end = outer * (me + 1) / threads;
    if (begin < end) {
      std::vector<int64_t> index(size_t(nd - 1));  // of run `begin` over the outer dims
      std::array<int64_t, NT> off{};
      for (int64_t d = nd - 2, rem = begin; d >= 0; --d) {
        index[size_t(d)] = rem % l.shape[d];
        rem /= l.shape[d];
        for (int t = 0; t < NT; ++t) off[t] += index[size_t(d)] * l.strides[t][d];
      }
      for (int64_t o = begin; o < end; ++o) {
        row(off, inner, inner_stride);
        for (int64_t d = nd - 2; d >= 0; --d) {  // next run: carry over the outer dims
          for (int t = 0; t < NT; ++t) off[t] += l.strides[t][d];
          if (++index[size_t(d)] < l.shape[d]) break;
          for (int t = 0; t < NT; ++t) off[t] -= l.shape[d] * l.strides[t][d];
          index[size_t(d)] = 0;
        }
      }
    }
  }
}

}  // namespace promoe::cpu
