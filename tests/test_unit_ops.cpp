// Raw ops against naive references: elementwise with broadcasting, comparisons and where,
// reductions over several dims (also of non-contiguous views), and matmul in every shape rule
// (1-D, 2-D, batched with broadcast batch dims, transposed and oddly strided views), and the float
// GEMM path (oneDNN where built) against the double one in every operand and output layout.
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <functional>

#include "random_views.h"
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace promoe;

namespace {

// A tensor's logical contents in f64, row-major, with its shape: what the references work on.
struct Ref {
  Shape shape;
  std::vector<double> v;
};
Ref ref(const Tensor& t) { return {t.shape(), t.to_vector<double>()}; }

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> c(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    c[d] = flat % shape[d];
    flat /= shape[d];
  }
  return c;
}

// Flat index into `shape` of the element that output coordinates `c` read under broadcasting.
int64_t broadcast_flat(const std::vector<int64_t>& c, const Shape& shape) {
  int64_t flat = 0;
  size_t lead = c.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + (shape[d] == 1 ? 0 : c[lead + d]);
  return flat;
}

Ref naive_binary(const Ref& a, const Ref& b, const std::function<double(double, double)>& f) {
  Ref out{broadcast_shapes(a.shape, b.shape, "test"), {}};
  for (int64_t i = 0; i < numel_of(out.shape); ++i) {
    auto c = unravel(i, out.shape);
    out.v.push_back(f(a.v[broadcast_flat(c, a.shape)], b.v[broadcast_flat(c, b.shape)]));
  }
  return out;
}

void check_close(const Tensor& got, const Ref& want, double tol) {
  REQUIRE(got.shape() == want.shape);
  std::vector<double> g = got.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(want.v[i])) CHECK(std::isnan(g[i]));
    else CHECK(std::abs(g[i] - want.v[i]) <= tol * (1 + std::abs(want.v[i])));
  }
}

Tensor randn(Generator& gen, const Shape& shape, DType dt = DType::F64) { return gen.randn(shape, dt); }

}  // namespace

TEST_CASE("unary ops match their scalar definitions, on contiguous and strided inputs") {
  Generator gen(1);
  Tensor x = randn(gen, {4, 6});
  Tensor pos = raw::add_scalar(raw::unary(UnaryOp::Abs, x), 0.1);  // for log, sqrt, rsqrt
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  auto gelu = [](double v) { return 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); };
  struct Case {
    UnaryOp op;
    bool positive;
    std::function<double(double)> f;
    double p0 = 0, p1 = 0;
  };
  std::vector<Case> cases = {
      {UnaryOp::Neg, false, [](double v) { return -v; }},
      {UnaryOp::Exp, false, [](double v) { return std::exp(v); }},
      {UnaryOp::Log, true, [](double v) { return std::log(v); }},
      {UnaryOp::Sqrt, true, [](double v) { return std::sqrt(v); }},
      {UnaryOp::Rsqrt, true, [](double v) { return 1 / std::sqrt(v); }},
      {UnaryOp::Tanh, false, [](double v) { return std::tanh(v); }},
      {UnaryOp::Sigmoid, false, sig},
      {UnaryOp::Silu, false, [&](double v) { return v * sig(v); }},
      {UnaryOp::GeluTanh, false, gelu},
      {UnaryOp::Sin, false, [](double v) { return std::sin(v); }},
      {UnaryOp::Cos, false, [](double v) { return std::cos(v); }},
      {UnaryOp::Abs, false, [](double v) { return std::abs(v); }},
      {UnaryOp::Relu, false, [](double v) { return v > 0 ? v : 0; }},
      {UnaryOp::Sign, false, [](double v) { return double((v > 0) - (v < 0)); }},
      {UnaryOp::Square, false, [](double v) { return v * v; }},
      {UnaryOp::Reciprocal, true, [](double v) { return 1 / v; }},
      {UnaryOp::PowScalar, true, [](double v) { return std::pow(v, 1.5); }, 1.5},
      {UnaryOp::Affine, false, [](double v) { return 2 * v - 3; }, 2, -3},
      {UnaryOp::Clamp, false, [](double v) { return std::min(std::max(v, -0.5), 0.7); }, -0.5, 0.7},
  };
  for (const Case& c : cases) {
    CAPTURE(raw::op_name(c.op));
    Tensor in = c.positive ? pos : x;
    Ref want = ref(in);
    for (double& v : want.v) v = c.f(v);
    check_close(raw::unary(c.op, in, c.p0, c.p1), want, 1e-12);
    // f32 and a transposed (non-contiguous) input.
    Tensor t = raw::transpose(raw::to(in, DType::F32), 0, 1);
    Ref want_t = ref(t);
    for (double& v : want_t.v) v = c.f(v);
    check_close(raw::unary(c.op, t, c.p0, c.p1), want_t, 1e-5);
  }
}

TEST_CASE("binary ops broadcast like NumPy, for contiguous and strided operands") {
  Generator gen(2);
  Tensor a = randn(gen, {2, 1, 3}), b = raw::add_scalar(raw::unary(UnaryOp::Abs, randn(gen, {4, 1})), 0.5);
  struct Case {
    BinaryOp op;
    std::function<double(double, double)> f;
  };
  std::vector<Case> cases = {
      {BinaryOp::Add, [](double x, double y) { return x + y; }},
      {BinaryOp::Sub, [](double x, double y) { return x - y; }},
      {BinaryOp::Mul, [](double x, double y) { return x * y; }},
      {BinaryOp::Div, [](double x, double y) { return x / y; }},
      {BinaryOp::Maximum, [](double x, double y) { return std::max(x, y); }},
      {BinaryOp::Minimum, [](double x, double y) { return std::min(x, y); }},
  };
  for (const Case& c : cases) {
    CAPTURE(raw::op_name(c.op));
    check_close(raw::binary(c.op, a, b), naive_binary(ref(a), ref(b), c.f), 1e-12);  // (2, 4, 3)
    check_close(raw::binary(c.op, b, a), naive_binary(ref(b), ref(a), c.f), 1e-12);
  }
  // pow needs a positive base.
  Tensor base = raw::add_scalar(raw::unary(UnaryOp::Abs, a), 0.1);
  check_close(raw::binary(BinaryOp::Pow, base, b), naive_binary(ref(base), ref(b), [](double x, double y) {
                return std::pow(x, y);
              }), 1e-12);
  // A 0-d operand, a transposed operand, and an expanded (stride-0) operand.
  Tensor m = randn(gen, {3, 5});
  Tensor s = raw::scalar(2.0, DType::F64);
  check_close(raw::mul(m, s), naive_binary(ref(m), ref(s), [](double x, double y) { return x * y; }), 1e-12);
  Tensor mt = raw::transpose(randn(gen, {5, 3}), 0, 1);
  check_close(raw::sub(m, mt), naive_binary(ref(m), ref(mt), [](double x, double y) { return x - y; }), 1e-12);
  Tensor row = randn(gen, {1, 5});
  Tensor ex = raw::expand(row, {3, 5});
  check_close(raw::add(mt, ex), naive_binary(ref(mt), ref(row), [](double x, double y) { return x + y; }), 1e-12);
  // f32, larger than the parallel threshold, with a column broadcast.
  Tensor big = gen.randn({300, 257}), col = gen.randn({300, 1});
  check_close(raw::add(big, col), naive_binary(ref(big), ref(col), [](double x, double y) { return x + y; }), 1e-6);
  // Scalar helpers and in-place add.
  check_close(raw::mul_scalar(m, 3), naive_binary(ref(m), ref(s), [](double x, double) { return 3 * x; }), 1e-12);
  check_close(raw::add_scalar(m, -1), naive_binary(ref(m), ref(s), [](double x, double) { return x - 1; }), 1e-12);
  Tensor acc = raw::clone(m);
  raw::add_(acc, row);
  check_close(acc, naive_binary(ref(m), ref(row), [](double x, double y) { return x + y; }), 1e-12);
  // i64 arithmetic.
  Tensor i = raw::from_vector<int64_t>({1, -2, 3}, {3}), j = raw::from_vector<int64_t>({4}, {1});
  CHECK(raw::add(i, j).to_vector<int64_t>() == std::vector<int64_t>{5, 2, 7});
  CHECK(raw::mul(i, j).to_vector<int64_t>() == std::vector<int64_t>{4, -8, 12});
  CHECK(raw::binary(BinaryOp::Maximum, i, raw::from_vector<int64_t>({0}, {1})).to_vector<int64_t>() ==
        std::vector<int64_t>{1, 0, 3});
}

TEST_CASE("comparisons give 1/0 in the input dtype; where selects with broadcasting") {
  Tensor a = raw::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = raw::from_vector<double>({2, 2, 5}, {3});
  CHECK(raw::binary(BinaryOp::Eq, a, b).dtype() == DType::F64);
  CHECK(raw::binary(BinaryOp::Eq, a, b).to_vector<double>() == std::vector<double>{0, 1, 0, 0, 0, 0});
  CHECK(raw::binary(BinaryOp::Ne, a, b).to_vector<double>() == std::vector<double>{1, 0, 1, 1, 1, 1});
  CHECK(raw::binary(BinaryOp::Lt, a, b).to_vector<double>() == std::vector<double>{1, 0, 1, 0, 0, 0});
  CHECK(raw::binary(BinaryOp::Le, a, b).to_vector<double>() == std::vector<double>{1, 1, 1, 0, 0, 0});
  CHECK(raw::binary(BinaryOp::Gt, a, b).to_vector<double>() == std::vector<double>{0, 0, 0, 1, 1, 1});
  CHECK(raw::binary(BinaryOp::Ge, a, b).to_vector<double>() == std::vector<double>{0, 1, 0, 1, 1, 1});
  Tensor ia = raw::from_vector<int64_t>({1, 5}, {2}), ib = raw::from_vector<int64_t>({3}, {1});
  CHECK(raw::binary(BinaryOp::Lt, ia, ib).to_vector<int64_t>() == std::vector<int64_t>{1, 0});

  // where(cond, a, b): cond of any dtype, non-zero = true, all three broadcast.
  Tensor cond = raw::from_vector<int64_t>({1, 0, 2}, {3});
  Tensor w = raw::where(cond, a, raw::scalar(-1.0, DType::F64));
  CHECK(w.shape() == Shape{2, 3});
  CHECK(w.to_vector<double>() == std::vector<double>{1, -1, 3, 4, -1, 6});
  Tensor c2 = raw::from_vector<float>({0, 1}, {2, 1});
  CHECK(raw::where(c2, a, raw::transpose(raw::reshape(raw::arange(0, 6, 1, DType::F64), {3, 2}), 0, 1))
            .to_vector<double>() == std::vector<double>{0, 2, 4, 4, 5, 6});
}

namespace {
// Reference reduction of `a` over `dims` (sorted, distinct) with `f` folding from `init`.
Ref naive_reduce(const Ref& a, const std::vector<int64_t>& dims, bool keepdim, double init,
                 const std::function<double(double, double)>& f, bool mean = false) {
  Shape out_shape, keep_shape;
  for (int64_t d = 0; d < int64_t(a.shape.size()); ++d) {
    bool red = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!red) out_shape.push_back(a.shape[d]);
    keep_shape.push_back(red ? 1 : a.shape[d]);
  }
  std::vector<double> acc(numel_of(out_shape), init);
  int64_t count = numel_of(a.shape) / std::max<int64_t>(1, numel_of(out_shape));
  for (int64_t i = 0; i < numel_of(a.shape); ++i) {
    auto c = unravel(i, a.shape);
    int64_t o = broadcast_flat(c, keep_shape);
    acc[o] = f(acc[o], a.v[i]);
  }
  if (mean)
    for (double& v : acc) v /= double(count);
  return {keepdim ? keep_shape : out_shape, acc};
}
}  // namespace

TEST_CASE("reductions over one, several and all dims, also of non-contiguous views") {
  Generator gen(3);
  Tensor base = randn(gen, {3, 4, 5});
  auto add = [](double x, double y) { return x + y; };
  auto mx = [](double x, double y) { return std::max(x, y); };
  auto mn = [](double x, double y) { return std::min(x, y); };
  std::vector<Tensor> inputs = {base, raw::permute(base, {2, 0, 1}), raw::narrow(raw::transpose(base, 0, 2), 1, 1, 2),
                                raw::expand(raw::narrow(base, 0, 0, 1), {3, 4, 5})};
  std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1}, {0, 1, 2}};
  for (const Tensor& x : inputs) {
    for (const auto& dims : dim_sets) {
      for (bool keep : {false, true}) {
        CAPTURE(shape_str(x.shape()));
        CAPTURE(shape_str(dims));
        CAPTURE(keep);
        Ref r = ref(x);
        check_close(raw::sum(x, dims, keep), naive_reduce(r, dims, keep, 0, add), 1e-12);
        check_close(raw::reduce(ReduceOp::Mean, x, dims, keep), naive_reduce(r, dims, keep, 0, add, true), 1e-12);
        check_close(raw::reduce(ReduceOp::Max, x, dims, keep), naive_reduce(r, dims, keep, -1e300, mx), 0);
        check_close(raw::reduce(ReduceOp::Min, x, dims, keep), naive_reduce(r, dims, keep, 1e300, mn), 0);
      }
    }
  }
  // Empty dims = all dims; negative dims wrap; a dim order does not matter.
  CHECK(raw::sum(base).dim() == 0);
  CHECK(raw::sum(base).item() == doctest::Approx(naive_reduce(ref(base), {0, 1, 2}, false, 0, add).v[0]));
  check_close(raw::sum(base, {-1, 0}), naive_reduce(ref(base), {0, 2}, false, 0, add), 1e-12);
  // f32 sums accumulate in double: a long sum of 0.1 stays accurate.
  CHECK(raw::sum(raw::full({1000000}, 0.1, DType::F32)).item() == doctest::Approx(100000.0).epsilon(1e-6));
  // Large enough for the parallel paths (many outputs; one output).
  Tensor big = gen.randn({64, 33, 40});
  check_close(raw::sum(raw::transpose(big, 0, 2), {1}), naive_reduce(ref(raw::transpose(big, 0, 2)), {1}, false, 0, add), 1e-5);
  check_close(raw::reduce(ReduceOp::Max, big, {0, 1, 2}, false), naive_reduce(ref(big), {0, 1, 2}, false, -1e300, mx), 0);
  // Column sums over many rows (a bias gradient): the rows are cut into slices summed separately,
  // and the result does not depend on the thread count.
  for (const Tensor& cols : {gen.randn({3000, 130}), gen.randn({2, 700, 70})}) {
    std::vector<int64_t> dims{cols.dim() - 2};
    Tensor s = raw::sum(cols, dims);
    check_close(s, naive_reduce(ref(cols), dims, false, 0, add), 1e-5);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(threads == 1 ? 2 : 1);
    CHECK(raw::sum(cols, dims).to_vector<float>() == s.to_vector<float>());
    omp_set_num_threads(threads);
  }
  // i64 sums; NaN propagates through max.
  CHECK(raw::sum(raw::from_vector<int64_t>({1, 2, 3, 4}, {2, 2}), {0}).to_vector<int64_t>() == std::vector<int64_t>{4, 6});
  CHECK(std::isnan(raw::reduce(ReduceOp::Max, raw::from_vector<double>({1, NAN, 3}, {3}), {}, false).item()));
}

TEST_CASE("sum_to reverses broadcasting") {
  Generator gen(4);
  Tensor g = randn(gen, {2, 3, 4});
  auto add = [](double x, double y) { return x + y; };
  check_close(raw::sum_to(g, {3, 1}), Ref{{3, 1}, naive_reduce(ref(g), {0, 2}, false, 0, add).v}, 1e-12);
  check_close(raw::sum_to(g, {4}), Ref{{4}, naive_reduce(ref(g), {0, 1}, false, 0, add).v}, 1e-12);
  check_close(raw::sum_to(g, {1, 1, 1}), Ref{{1, 1, 1}, naive_reduce(ref(g), {0, 1, 2}, false, 0, add).v}, 1e-12);
  CHECK(raw::sum_to(g, {2, 3, 4}).same(g));
}

TEST_CASE("max_dim and argmax: values, indices, ties to the lower index, non-contiguous input") {
  Tensor a = raw::from_vector<double>({3, 7, 7, 1, 9, 2, 9, 0}, {2, 4});
  raw::ValuesIndices r = raw::max_dim(a, 1, false);
  CHECK(r.values.to_vector<double>() == std::vector<double>{7, 9});
  CHECK(r.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(raw::argmax(a, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1, 0});
  raw::ValuesIndices k = raw::max_dim(a, 0, true);
  CHECK(k.values.shape() == Shape{1, 4});
  CHECK(k.values.to_vector<double>() == std::vector<double>{9, 7, 9, 1});
  // On a transposed view, along dims 0 and 1.
  Tensor t = raw::transpose(a, 0, 1);  // (4, 2)
  CHECK(raw::argmax(t, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1, 0});
  CHECK(raw::argmax(t, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(raw::argmax(t, -1, true).shape() == Shape{4, 1});
}

namespace {
// PyTorch matmul semantics on logical values: 1-D operands are promoted and the added dim removed.
Ref naive_matmul(Ref a, Ref b) {
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

void check_matmul(const Tensor& a, const Tensor& b, double tol) {
  CAPTURE(describe(a));
  CAPTURE(describe(b));
  CAPTURE(shape_str(a.strides()));
  CAPTURE(shape_str(b.strides()));
  check_close(raw::matmul(a, b), naive_matmul(ref(a), ref(b)), tol);
}
}  // namespace

TEST_CASE("matmul: 1-D, 2-D, batched, broadcast batch dims, transposed and oddly strided views") {
  Generator gen(5);
  auto r = [&](const Shape& s) { return randn(gen, s); };
  check_matmul(r({5}), r({5}), 1e-12);             // dot -> scalar
  check_matmul(r({5}), r({5, 3}), 1e-12);          // (K) @ (K, N) -> (N)
  check_matmul(r({4, 5}), r({5}), 1e-12);          // (M, K) @ (K) -> (M)
  check_matmul(r({7, 5}), r({5, 3}), 1e-12);
  check_matmul(r({1, 5}), r({5, 1}), 1e-12);
  check_matmul(r({2, 3, 5}), r({5, 4}), 1e-12);    // batch folded into rows
  check_matmul(r({5}), r({2, 5, 4}), 1e-12);       // (K) @ (B, K, N) -> (B, N)
  check_matmul(r({2, 3, 5}), r({5}), 1e-12);
  check_matmul(r({3, 5}), r({2, 5, 4}), 1e-12);    // 2-D @ batched
  check_matmul(r({2, 3, 5}), r({2, 5, 4}), 1e-12);
  check_matmul(r({2, 1, 3, 5}), r({4, 5, 2}), 1e-12);  // batch (2, 1) x (4) -> (2, 4)
  check_matmul(r({1, 3, 5}), r({3, 1, 5, 2}), 1e-12);
  // Transposed operands (column-major maps) in every combination.
  Tensor a = r({5, 7}), b = r({3, 5});
  check_matmul(raw::transpose(a, 0, 1), raw::transpose(b, 0, 1), 1e-12);  // (7, 5) @ (5, 3)
  check_matmul(raw::transpose(a, 0, 1), r({5, 3}), 1e-12);
  check_matmul(r({7, 5}), raw::transpose(b, 0, 1), 1e-12);
  check_matmul(raw::transpose(r({2, 5, 7}), 1, 2), raw::transpose(r({2, 4, 5}), -1, -2), 1e-12);
  // Narrowed views: row stride larger than the row, offsets, non-unit steps in both dims.
  Tensor big = r({9, 11});
  check_matmul(raw::narrow(raw::narrow(big, 1, 2, 5), 0, 1, 6), raw::narrow(r({8, 6}), 0, 3, 5), 1e-12);
  Tensor every_other = Tensor::view_of(big, {4, 5}, {22, 2}, 1);  // neither row- nor column-major
  check_matmul(every_other, r({5, 3}), 1e-12);
  check_matmul(r({3, 4}), every_other, 1e-12);
  // Permuted batch dims (batch stride smaller than the matrix), and expanded (stride-0) operands.
  Tensor mbk = r({4, 3, 5});  // (M, B, K)
  check_matmul(raw::permute(mbk, {1, 0, 2}), r({3, 5, 2}), 1e-12);
  check_matmul(raw::expand(r({1, 5}), {4, 5}), r({5, 3}), 1e-12);           // stride-0 rows
  check_matmul(r({4, 5}), raw::expand(r({5, 1}), {5, 3}), 1e-12);           // stride-0 columns
  check_matmul(raw::expand(r({4, 5}), {3, 4, 5}), r({3, 5, 2}), 1e-12);     // stride-0 batch
  check_matmul(raw::expand(r({2, 1, 4, 5}), {2, 3, 4, 5}), r({3, 5, 2}), 1e-12);
  // Head-split attention views: qkv (B, N, 3, H, hd) -> q, k (B, H, N, hd). The heads fold into one
  // batch stride, heads with images do not: the product loops over images without copying.
  Tensor qkv = r({2, 5, 3, 4, 3});
  Tensor heads = raw::permute(qkv, {2, 0, 3, 1, 4});
  Tensor q = raw::select(heads, 0, 0), k = raw::select(heads, 0, 1), v = raw::select(heads, 0, 2);
  check_matmul(q, raw::transpose(k, -1, -2), 1e-12);
  check_matmul(raw::matmul(q, raw::transpose(k, -1, -2)), v, 1e-12);
  // Batch dims swapped: the inner one folds alone; with 4 products per call it loops, with 2 it copies.
  check_matmul(raw::permute(r({4, 3, 2, 5}), {1, 0, 2, 3}), r({3, 4, 5, 2}), 1e-12);
  check_matmul(raw::permute(r({2, 3, 2, 5}), {1, 0, 2, 3}), r({3, 2, 5, 2}), 1e-12);
  check_matmul(r({3, 4, 2, 5}), raw::permute(r({4, 3, 5, 2}), {1, 0, 2, 3}), 1e-12);
  // Empty inner dim: zeros.
  Tensor z = raw::matmul(raw::zeros({3, 0}, DType::F64), raw::zeros({0, 2}, DType::F64));
  CHECK(z.to_vector<double>() == std::vector<double>(6, 0.0));
  // f32, large enough for Eigen's blocked, threaded product and for parallel batches.
  Tensor fa = gen.randn({70, 90}), fb = gen.randn({90, 65});
  check_matmul(fa, fb, 1e-4);
  check_matmul(raw::transpose(gen.randn({90, 70}), 0, 1), raw::transpose(gen.randn({65, 90}), 0, 1), 1e-4);
  check_matmul(gen.randn({6, 33, 17}), raw::transpose(gen.randn({6, 21, 17}), 1, 2), 1e-4);
}

TEST_CASE("fused AdamW follows PyTorch's update over several steps, with a gradient scale") {
  Generator gen(6);
  Tensor p = gen.randn({7}), m = raw::zeros({7}), v = raw::zeros({7});
  std::vector<double> rp = p.to_vector<double>(), rm(7, 0), rv(7, 0);
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (int64_t step = 1; step <= 3; ++step) {
    Tensor g = gen.randn({7});
    std::vector<double> gv = g.to_vector<double>();
    const double scale = step == 2 ? 0.25 : 1.0;  // clipping folded into the step
    for (double& x : gv) x *= scale;
    backend_for(Device::cpu()).adamw(p, g, m, v, lr, b1, b2, eps, wd, step, scale);
    for (int i = 0; i < 7; ++i) {  // torch.optim.AdamW, single tensor
      rp[i] *= 1 - lr * wd;
      rm[i] = b1 * rm[i] + (1 - b1) * gv[i];
      rv[i] = b2 * rv[i] + (1 - b2) * gv[i] * gv[i];
      double mhat = rm[i] / (1 - std::pow(b1, double(step))), vhat = rv[i] / (1 - std::pow(b2, double(step)));
      rp[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
  check_close(p, Ref{{7}, rp}, 1e-5);
  check_close(m, Ref{{7}, rm}, 1e-5);
  check_close(v, Ref{{7}, rv}, 1e-5);
}

TEST_CASE("adamw_group over many tensors equals adamw per tensor") {
  Generator gen(13);
  Backend& cpu = backend_for(Device::cpu());
  std::vector<Tensor> p1, g, m1, v1, p2, m2, v2;
  for (int64_t n : {3, 40000, 7, 16384, 20000}) {  // chunks cut inside and at tensor boundaries
    p1.push_back(gen.randn({n}));
    g.push_back(gen.randn({n}));
    m1.push_back(gen.randn({n}));
    v1.push_back(raw::unary(UnaryOp::Abs, gen.randn({n})));
    p2.push_back(raw::clone(p1.back()));
    m2.push_back(raw::clone(m1.back()));
    v2.push_back(raw::clone(v1.back()));
  }
  cpu.adamw_group(p1, g, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 0.05, 4, 0.6);
  cpu.Backend::adamw_group(p2, g, m2, v2, 1e-3, 0.9, 0.999, 1e-8, 0.05, 4, 0.6);
  for (size_t i = 0; i < p1.size(); ++i) {
    CAPTURE(i);
    CHECK(p1[i].to_vector<float>() == p2[i].to_vector<float>());
    CHECK(m1[i].to_vector<float>() == m2[i].to_vector<float>());
    CHECK(v1[i].to_vector<float>() == v2[i].to_vector<float>());
  }
}

TEST_CASE("sum_of_squares over many tensors equals the composed default and ignores the thread count") {
  Generator gen(12);
  std::vector<Tensor> ts{gen.randn({300, 130}), gen.randn({7}), raw::transpose(gen.randn({40, 50}), 0, 1),
                         gen.randn({70000}), raw::zeros({0})};
  double want = 0;
  for (const Tensor& t : ts)
    for (double x : t.to_vector<double>()) want += x * x;
  const double got = raw::sum_of_squares(ts);
  CHECK(got == doctest::Approx(want).epsilon(1e-12));
  std::vector<Tensor> dense;
  for (const Tensor& t : ts) dense.push_back(raw::contiguous(t));
  CHECK(backend_for(Device::cpu()).Backend::sum_of_squares(dense) == doctest::Approx(want).epsilon(1e-6));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(threads == 1 ? 2 : 1);
  CHECK(raw::sum_of_squares(ts) == got);
  omp_set_num_threads(threads);
}

TEST_CASE("the backend-neutral batched_matmul (folding batch dims, looping or copying) is right") {
  // The CPU backend overrides batched_matmul; the default, which other backends inherit, is run
  // here through a qualified call on the CPU backend.
  Generator gen(7);
  auto r = [&](const Shape& s) { return randn(gen, s); };
  auto check_default = [](const Tensor& a, const Tensor& b) {
    CAPTURE(describe(a));
    CAPTURE(describe(b));
    Shape so = a.shape();
    so.back() = b.shape().back();
    Tensor out = Tensor::empty(so, a.dtype());
    backend_for(Device::cpu()).Backend::batched_matmul(out, a, b);
    check_close(out, naive_matmul(ref(a), ref(b)), 1e-12);
  };
  Tensor qkv = r({2, 5, 3, 4, 3});  // head-split views: loops over the 2 images, 4 heads per call
  Tensor heads = raw::permute(qkv, {2, 0, 3, 1, 4});
  check_default(raw::select(heads, 0, 0), raw::transpose(raw::select(heads, 0, 1), -1, -2));
  check_default(raw::permute(r({4, 3, 2, 5}), {1, 0, 2, 3}), r({3, 4, 5, 2}));  // loops
  check_default(raw::permute(r({2, 3, 2, 5}), {1, 0, 2, 3}), r({3, 2, 5, 2}));  // copies
  check_default(raw::expand(r({1, 4, 2, 5}), {3, 4, 2, 5}), r({3, 4, 5, 2}));  // broadcast batch, folds
  check_default(raw::expand(r({3, 1, 2, 5}), {3, 4, 2, 5}), r({3, 4, 5, 2}));  // inner broadcast: copies
  check_default(r({6, 2, 5}), raw::transpose(r({6, 3, 5}), 1, 2));              // one batch dim
}

TEST_CASE("grouped_matmul_into runs independent products of any layouts, on the CPU and through the default") {
  Generator gen(9);
  auto r = [&](const Shape& s) { return randn(gen, s); };
  // Products of different sizes (one large enough to share out), transposed operands, views of
  // one buffer as outputs, and an empty inner dim.
  Tensor buf = raw::zeros({70, 7}, DType::F64);
  std::vector<Tensor> as{r({5, 3}), raw::transpose(r({4, 6}), 0, 1), r({50, 300}), r({2, 0})};
  std::vector<Tensor> bs{r({3, 7}), r({4, 7}), raw::transpose(r({7, 300}), 0, 1), r({0, 7})};
  for (bool fallback : {false, true}) {
    raw::fill_(buf, 1.0);
    std::vector<Tensor> outs{raw::narrow(buf, 0, 0, 5), raw::narrow(buf, 0, 5, 6), raw::narrow(buf, 0, 11, 50),
                             raw::narrow(buf, 0, 66, 2)};
    if (fallback) {
      std::vector<Tensor> o(outs.begin(), outs.end() - 1), a(as.begin(), as.end() - 1), b(bs.begin(), bs.end() - 1);
      backend_for(Device::cpu()).Backend::grouped_matmul(o, a, b);
      raw::fill_(outs.back(), 0.0);
    } else {
      raw::grouped_matmul_into(outs, as, bs);
    }
    CAPTURE(fallback);
    for (size_t i = 0; i < outs.size(); ++i) check_close(raw::contiguous(outs[i]), naive_matmul(ref(as[i]), ref(bs[i])), 1e-10);
    CHECK(raw::narrow(buf, 0, 61, 5).to_vector<double>() == std::vector<double>(35, 1.0));  // rows no product owns
  }
  CHECK_THROWS_WITH_AS(raw::grouped_matmul_into({raw::zeros({2, 2}, DType::F64)}, {r({2, 3})}, {r({2, 2})}),
                       doctest::Contains("grouped_matmul_into: product 0"), Error);
}

TEST_CASE("matmul_into writes alpha * a @ b into strided output views on the CPU and through the default") {
  Generator gen(8);
  auto r = [&](const Shape& s) { return randn(gen, s); };
  Tensor a = r({2, 3, 5, 4}), b = r({2, 3, 4, 6});
  Ref want = naive_matmul(ref(a), ref(b));
  for (double& x : want.v) x *= 0.5;
  // (B, H, N, hd) head views of a (B, N, H * hd) buffer: the batch dims do not fold into one stride.
  auto head_view = [](const Tensor& buf) { return raw::permute(raw::reshape(buf, {2, 5, 3, 6}), {0, 2, 1, 3}); };
  Tensor buf = raw::zeros({2, 5, 18}, DType::F64);
  raw::matmul_into(head_view(buf), a, b, 0.5);
  check_close(raw::contiguous(head_view(buf)), want, 1e-12);
  for (bool few : {false, true}) {  // 6 products per call, or 2 (the default then copies)
    Tensor A = few ? raw::narrow(a, 1, 0, 1) : a, B = few ? raw::narrow(b, 1, 0, 1) : b;
    Tensor base = raw::zeros({2, 5, 18}, DType::F64);
    Tensor out = few ? raw::narrow(head_view(base), 1, 0, 1) : head_view(base);
    backend_for(Device::cpu()).Backend::batched_matmul(out, A, B, 0.5);
    Ref w = naive_matmul(ref(A), ref(B));
    for (double& x : w.v) x *= 0.5;
    check_close(raw::contiguous(out), w, 1e-12);
  }
  CHECK_THROWS_WITH_AS(raw::matmul_into(raw::zeros({2, 5, 5}, DType::F64), r({2, 5, 4}), r({2, 3, 5})),
                       doctest::Contains("matmul_into: shapes do not chain"), Error);
}

TEST_CASE("float matmul (oneDNN where built) matches the double product in every operand and output layout") {
  Generator gen(17);
  Backend& cpu = backend_for(Device::cpu());
  struct Dims {
    int64_t bt, m, k, n;
  };
  const Dims dims[] = {{1, 4, 5, 3}, {3, 4, 5, 3}, {2, 1, 6, 4}, {2, 5, 1, 3}, {2, 4, 6, 1}, {1, 67, 130, 45}};
  for (const Dims& d : dims)
    for (int ka = 0; ka < 6; ++ka)
      for (int kb = 0; kb < 6; ++kb)
        for (int ko = 0; ko < 3; ++ko)
          for (double beta : {0.0, 0.5}) {
            Tensor a = test::gemm_operand(gen, d.bt, d.m, d.k, ka, DType::F32);
            Tensor b = test::gemm_operand(gen, d.bt, d.k, d.n, kb, DType::F32);
            Tensor init = gen.randn({d.bt, d.m, d.n});
            Tensor out;  // row-major, column-major, or neither (column stride 2)
            if (ko == 0) out = raw::clone(init);
            if (ko == 1) out = raw::transpose(Tensor::empty({d.bt, d.n, d.m}), 1, 2);
            if (ko == 2) out = Tensor::view_of(Tensor::empty({d.bt, d.m, 2 * d.n}), {d.bt, d.m, d.n}, {d.m * 2 * d.n, 2 * d.n, 2}, 0);
            cpu.copy(out, init);
            Tensor want = raw::to(init, DType::F64);
            cpu.matmul(want, raw::to(a, DType::F64), raw::to(b, DType::F64), 1.5, beta);
            cpu.matmul(out, a, b, 1.5, beta);
            CAPTURE(d.bt);
            CAPTURE(d.m);
            CAPTURE(d.k);
            CAPTURE(d.n);
            CAPTURE(ka);
            CAPTURE(kb);
            CAPTURE(ko);
            CAPTURE(beta);
            check_close(out, ref(want), 1e-4);
          }
}
