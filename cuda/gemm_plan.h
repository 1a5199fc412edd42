// How a batched product of strided views maps onto one column-major BLAS call (pure host code,
// checked against the CPU backend by tests/test_unit_cuda_math.cpp with a reference column-major
// GEMM). A view is usable in place when it is row-major (unit stride along columns) or
// column-major (unit stride along rows) with a valid leading dimension; otherwise the caller copies
// it to contiguous first. A row-major output C is produced as C^T = B^T A^T, so no operand is ever
// transposed in memory.
#pragma once
#include <algorithm>
#include <cstdint>

namespace promoe::cuda::gemm {

// A (rows, cols) view: element (i, j) at i * s0 + j * s1.
struct Mat {
  int64_t rows, cols, s0, s1;
};

enum class Layout { Row, Col, None };

inline int64_t leading_dim(const Mat& m, Layout l) {
  if (l == Layout::Row) return m.rows == 1 ? std::max<int64_t>(m.cols, 1) : m.s0;
  return m.cols == 1 ? std::max<int64_t>(m.rows, 1) : m.s1;
}

inline Layout layout_of(const Mat& m) {
  if ((m.s1 == 1 || m.cols == 1) && leading_dim(m, Layout::Row) >= std::max<int64_t>(1, m.cols)) return Layout::Row;
  if ((m.s0 == 1 || m.rows == 1) && leading_dim(m, Layout::Col) >= std::max<int64_t>(1, m.rows)) return Layout::Col;
  return Layout::None;
}

// Whether a product runs with every operand in place (a grouped call takes no copies).
inline bool in_place(const Mat& a, const Mat& b, const Mat& c) {
  return layout_of(a) != Layout::None && layout_of(b) != Layout::None && layout_of(c) != Layout::None;
}

// One column-major call: C(m, n) = alpha * op(first) op(second) + beta * C. `swap`: first is B and
// second is A (row-major output).
struct Plan {
  bool swap;
  bool trans_first, trans_second;
  int64_t m, n, k;
  int64_t ld_first, ld_second, ldc;
};

// a (M, K), b (K, N), c (M, N); none may have Layout::None.
inline Plan plan(const Mat& a, const Mat& b, const Mat& c) {
  const Layout la = layout_of(a), lb = layout_of(b), lc = layout_of(c);
  Plan p;
  p.k = a.cols;
  if (lc == Layout::Col) {
    p.swap = false;
    p.m = c.rows;
    p.n = c.cols;
    p.trans_first = la == Layout::Row;
    p.ld_first = leading_dim(a, la);
    p.trans_second = lb == Layout::Row;
    p.ld_second = leading_dim(b, lb);
  } else {
    p.swap = true;
    p.m = c.cols;
    p.n = c.rows;
    p.trans_first = lb == Layout::Col;
    p.ld_first = leading_dim(b, lb);
    p.trans_second = la == Layout::Col;
    p.ld_second = leading_dim(a, la);
  }
  p.ldc = leading_dim(c, lc);
  return p;
}

}  // namespace promoe::cuda::gemm
