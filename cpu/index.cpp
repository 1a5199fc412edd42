// CPU indexing kernels: index_select / index_add along a dim, gather / scatter_add, topk and sort.
// Index ranges were checked in tensor/ops.cpp before these run.
#include <algorithm>
#include <numeric>
#include <type_traits>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/ops.h"

namespace promoe {

namespace {

// Shape and strides of `t` with `dim` removed: the geometry of one slice along `dim`.
struct Slice {
  Shape shape, strides;
};
Slice slice_of(const Tensor& t, int64_t dim) {
  Slice s{t.shape(), t.strides()};
  s.shape.erase(s.shape.begin() + dim);
  s.strides.erase(s.strides.begin() + dim);
  return s;
}

// The merged geometry of a destination and a source slice, computed once per op.
cpu::Layout<2> slice_pair(const Slice& ds, const Slice& ss) {
  return cpu::collapse<2>(ds.shape, {&ds.strides, &ss.strides});
}

// Applies f(dst_elem, src_elem) over two slices of the geometry `l`, serially.
template <typename T, typename F>
void slice_apply(T* dst, const T* src, const cpu::Layout<2>& l, F f) {
  const int64_t nd = int64_t(l.shape.size()), inner = l.shape.back();
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= l.shape[d];
  const int64_t s0 = l.strides[0].back(), s1 = l.strides[1].back();
  for (int64_t o = 0; o < outer; ++o) {
    int64_t od = 0, os = 0;
    for (int64_t d = nd - 2, rem = o; d >= 0; --d) {
      int64_t i = rem % l.shape[d];
      rem /= l.shape[d];
      od += i * l.strides[0][d];
      os += i * l.strides[1][d];
    }
    T* pd = dst + od;
    const T* ps = src + os;
    if (s0 == 1 && s1 == 1) {  // contiguous rows: a vectorised loop
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) f(pd[i], ps[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) f(pd[i * s0], ps[i * s1]);
    }
  }
}

// Offset in `t` of the element whose coordinates are those of flat position `flat` in a
// contiguous tensor of shape `shape`, with coordinate `dim` replaced by `at`.
int64_t offset_with(const Shape& shape, const Shape& strides, int64_t flat, int64_t dim, int64_t at) {
  int64_t off = 0;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    int64_t i = flat % shape[d];
    flat /= shape[d];
    off += (d == dim ? at : i) * strides[d];
  }
  return off;
}

}  // namespace

void CpuBackend::index_select(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) {
  const int64_t* idx = index.data<int64_t>();
  const int64_t n = index.numel();
  Slice so = slice_of(out, dim), sa = slice_of(a, dim);
  const cpu::Layout<2> l = slice_pair(so, sa);
  cpu::dispatch_all(a.dtype(), "index_select", [&]<typename T>() {
    T* o = out.data<T>();
    const T* x = a.data<T>();
#pragma omp parallel for schedule(static) if (n * numel_of(so.shape) > 32768)
    for (int64_t j = 0; j < n; ++j)
      slice_apply<T>(o + j * out.stride(dim), x + idx[j] * a.stride(dim), l, [](T& d, T s) { d = s; });
  });
}

void CpuBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t* idx = index.data<int64_t>();
  const int64_t n = index.numel();
  if (out.dim() == 2 && dim == 0 && out.stride(1) == 1 && src.stride(1) == 1 && n * out.size(1) > 32768) {
    // Rows into rows (the combine of an expert dispatch): threads own blocks of columns, so
    // repeated indices never race and every element adds its rows in index order.
    const int64_t cols = out.size(1), blocks = (cols + 63) / 64;
    cpu::dispatch_all(out.dtype(), "index_add", [&]<typename T>() {
      T* o = out.data<T>();
      const T* s = src.data<T>();
#pragma omp parallel for schedule(static)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t c0 = blk * 64, c1 = std::min(cols, c0 + 64);
        for (int64_t j = 0; j < n; ++j) {
          T* dst = o + idx[j] * out.stride(0);
          const T* row = s + j * src.stride(0);
#pragma omp simd
          for (int64_t c = c0; c < c1; ++c) dst[c] += row[c];
        }
      }
    });
    return;
  }
  const cpu::Layout<2> l = slice_pair(slice_of(out, dim), slice_of(src, dim));
  cpu::dispatch_all(out.dtype(), "index_add", [&]<typename T>() {
    T* o = out.data<T>();
    const T* s = src.data<T>();
    for (int64_t j = 0; j < n; ++j)  // serial: repeated indices add into the same slice
      slice_apply<T>(o + idx[j] * out.stride(dim), s + j * src.stride(dim), l, [](T& d, T v) { d += v; });
  });
}

void CpuBackend::gather(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) {
  const int64_t* idx = index.data<int64_t>();
  const int64_t n = index.numel();
  cpu::dispatch_all(a.dtype(), "gather", [&]<typename T>() {
    T* o = out.data<T>();
    const T* x = a.data<T>();
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t f = 0; f < n; ++f)
      o[offset_with(out.shape(), out.strides(), f, -1, 0)] = x[offset_with(index.shape(), a.strides(), f, dim, idx[f])];
  });
}

void CpuBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t* idx = index.data<int64_t>();
  const int64_t n = index.numel();
  cpu::dispatch_all(out.dtype(), "scatter_add", [&]<typename T>() {
    T* o = out.data<T>();
    const T* s = src.data<T>();
    for (int64_t f = 0; f < n; ++f)
      o[offset_with(index.shape(), out.strides(), f, dim, idx[f])] +=
          s[offset_with(src.shape(), src.strides(), f, -1, 0)];
  });
}

namespace {
template <typename T>
void ordered_rows(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  const T* x = a.data<T>();
  T* pv = values.data<T>();
  int64_t* pi = indices.data<int64_t>();
#pragma omp parallel for schedule(static) if (rows * n > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    // NaN ranks above every number (as in PyTorch), which also keeps the order strict-weak.
    auto nan = [](T v) {
      if constexpr (std::is_floating_point_v<T>)
        return v != v;
      else
        return false;
    };
    auto before = [&](int64_t i, int64_t j) {
      const T a = xr[i], b = xr[j];
      const bool na = nan(a), nb = nan(b);
      if (na || nb) {
        if (na && nb) return i < j;
        return largest ? na : nb;
      }
      if (a != b) return largest ? a > b : a < b;
      return i < j;
    };
    if (k == 1) {  // top-1 routing: one scan, no index buffer
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i)
        if (before(i, best)) best = i;
      pv[r] = xr[best];
      pi[r] = best;
      continue;
    }
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (k == n)
      std::sort(order.begin(), order.end(), before);
    else
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
    for (int64_t i = 0; i < k; ++i) {
      pv[r * k + i] = xr[order[i]];
      pi[r * k + i] = order[i];
    }
  }
}
}  // namespace

void CpuBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) {
  cpu::dispatch_all(a.dtype(), "topk", [&]<typename T>() { ordered_rows<T>(values, indices, a, k, largest); });
}

void CpuBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& a, bool descending) {
  cpu::dispatch_all(a.dtype(), "sort",
                    [&]<typename T>() { ordered_rows<T>(values, indices, a, a.shape().back(), descending); });
}

}  // namespace promoe
