// Helpers for CPU kernels: dtype dispatch and parallel iteration over strided views.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace promoe::cpu {

// Runs the body with `T` bound to the C++ type of a floating dtype (f32, f64).
#define PROMOE_DISPATCH_FLOAT(dtype, op, ...)                                          \
  switch (dtype) {                                                                     \
    case ::promoe::DType::F32: { using T = float; __VA_ARGS__; break; }                \
    case ::promoe::DType::F64: { using T = double; __VA_ARGS__; break; }               \
    default: PROMOE_FAIL(op, ": unsupported dtype ", ::promoe::dtype_name(dtype));     \
  }

// As above, plus i64.
#define PROMOE_DISPATCH_ALL(dtype, op, ...)                                            \
  switch (dtype) {                                                                     \
    case ::promoe::DType::F32: { using T = float; __VA_ARGS__; break; }                \
    case ::promoe::DType::F64: { using T = double; __VA_ARGS__; break; }               \
    case ::promoe::DType::I64: { using T = int64_t; __VA_ARGS__; break; }              \
    default: PROMOE_FAIL(op, ": unsupported dtype ", ::promoe::dtype_name(dtype));     \
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
    for (int t = 0; t < NT && merge; ++t)
      merge = l.strides[t].back() == (*strides[t])[d] * shape[d];
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
// views, in parallel. Offsets are in elements from each view's element 0.
template <int NT, typename Row>
void for_each_row(const Shape& shape, const std::array<const Shape*, NT>& strides, Row row) {
  Layout<NT> l = collapse<NT>(shape, strides);
  const int64_t nd = int64_t(l.shape.size());
  const int64_t inner = l.shape.back();
  std::array<int64_t, NT> inner_stride;
  for (int t = 0; t < NT; ++t) inner_stride[t] = l.strides[t].back();
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= l.shape[d];
  // Long single rows are split into chunks so that every thread gets work.
  const int64_t chunk = outer == 1 ? std::max<int64_t>(4096, inner / 64 + 1) : inner;
  const int64_t chunks_per_row = (inner + chunk - 1) / chunk;
  const int64_t total = outer * chunks_per_row;
#pragma omp parallel for schedule(static) if (total > 1 && outer * inner > 32768)
  for (int64_t job = 0; job < total; ++job) {
    int64_t o = job / chunks_per_row, c = job % chunks_per_row;
    std::array<int64_t, NT> off{};
    for (int64_t d = nd - 2, rem = o; d >= 0; --d) {
      int64_t i = rem % l.shape[d];
      rem /= l.shape[d];
      for (int t = 0; t < NT; ++t) off[t] += i * l.strides[t][d];
    }
    int64_t start = c * chunk, n = std::min(chunk, inner - start);
    for (int t = 0; t < NT; ++t) off[t] += start * inner_stride[t];
    row(off, n, inner_stride);
  }
}

}  // namespace promoe::cpu
