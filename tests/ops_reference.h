// Naive references for the raw-op tests: a tensor's logical values in f64 (Ref), NumPy
// broadcasting, element-by-element comparison with a relative tolerance, and PyTorch's matmul
// rules computed by loops.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "tensor/ops.h"
#include "tensor/random.h"

namespace promoe::test {

// A tensor's logical contents in f64, row-major, with its shape: what the references work on.
struct Ref {
  Shape shape;
  std::vector<double> v;
};
inline Ref ref(const Tensor& t) { return {t.shape(), t.to_vector<double>()}; }

inline std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> c(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    c[d] = flat % shape[d];
    flat /= shape[d];
  }
  return c;
}

// Flat index into `shape` of the element that output coordinates `c` read under broadcasting.
inline int64_t broadcast_flat(const std::vector<int64_t>& c, const Shape& shape) {
  int64_t flat = 0;
  size_t lead = c.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + (shape[d] == 1 ? 0 : c[lead + d]);
  return flat;
}

inline Ref naive_binary(const Ref& a, const Ref& b, const std::function<double(double, double)>& f) {
  Ref out{broadcast_shapes(a.shape, b.shape, "test"), {}};
  for (int64_t i = 0; i < numel_of(out.shape); ++i) {
    auto c = unravel(i, out.shape);
    out.v.push_back(f(a.v[broadcast_flat(c, a.shape)], b.v[broadcast_flat(c, b.shape)]));
  }
  return out;
}

inline void check_close(const Tensor& got, const Ref& want, double tol) {
  REQUIRE(got.shape() == want.shape);
  std::vector<double> g = got.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(want.v[i]))
      CHECK(std::isnan(g[i]));
    else
      CHECK(std::abs(g[i] - want.v[i]) <= tol * (1 + std::abs(want.v[i])));
  }
}

inline Tensor randn(Generator& gen, const Shape& shape, DType dt = DType::F64) { return gen.randn(shape, dt); }

// PyTorch matmul semantics on logical values: 1-D operands are promoted and the added dim removed.
inline Ref naive_matmul(Ref a, Ref b) {
  bool a1 = a.shape.size() == 1, b1 = b.shape.size() == 1;
  if (a1) a.shape.insert(a.shape.begin(), 1);
  if (b1) b.shape.push_back(1);
  const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "test");
  Ref out{batch, {}};
  out.shape.insert(out.shape.end(), {M, N});
  for (int64_t bi = 0; bi < numel_of(batch); ++bi) {
    auto c = unravel(bi, batch);
    int64_t oa = broadcast_flat(c, ba) * M * K, ob = broadcast_flat(c, bb) * K * N;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += a.v[oa + i * K + k] * b.v[ob + k * N + j];
        out.v.push_back(s);
      }
  }
  if (a1) out.shape.erase(out.shape.end() - 2);
  if (b1) out.shape.pop_back();
  return out;
}

}  // namespace promoe::test
