// Raw ops against naive references (tests/ops_reference.h): elementwise with broadcasting,
// comparisons and where, reductions over several dims (also of non-contiguous views), and matmul in
// every shape rule (1-D, 2-D, batched with broadcast batch dims, transposed and oddly strided views).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <functional>

#include "ops_reference.h"

using namespace promoe;
using namespace promoe::test;

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
  check_close(raw::binary(BinaryOp::Pow, base, b),
              naive_binary(ref(base), ref(b), [](double x, double y) { return std::pow(x, y); }), 1e-12);
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
  check_close(raw::sum(raw::transpose(big, 0, 2), {1}),
              naive_reduce(ref(raw::transpose(big, 0, 2)), {1}, false, 0, add), 1e-5);
  check_close(raw::reduce(ReduceOp::Max, big, {0, 1, 2}, false), naive_reduce(ref(big), {0, 1, 2}, false, -1e300, mx),
              0);
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
  CHECK(raw::sum(raw::from_vector<int64_t>({1, 2, 3, 4}, {2, 2}), {0}).to_vector<int64_t>() ==
        std::vector<int64_t>{4, 6});
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
  check_matmul(r({5}), r({5}), 1e-12);     // dot -> scalar
  check_matmul(r({5}), r({5, 3}), 1e-12);  // (K) @ (K, N) -> (N)
  check_matmul(r({4, 5}), r({5}), 1e-12);  // (M, K) @ (K) -> (M)
  check_matmul(r({7, 5}), r({5, 3}), 1e-12);
  check_matmul(r({1, 5}), r({5, 1}), 1e-12);
  check_matmul(r({2, 3, 5}), r({5, 4}), 1e-12);  // batch folded into rows
  check_matmul(r({5}), r({2, 5, 4}), 1e-12);     // (K) @ (B, K, N) -> (B, N)
  check_matmul(r({2, 3, 5}), r({5}), 1e-12);
  check_matmul(r({3, 5}), r({2, 5, 4}), 1e-12);  // 2-D @ batched
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
  check_matmul(raw::expand(r({1, 5}), {4, 5}), r({5, 3}), 1e-12);        // stride-0 rows
  check_matmul(r({4, 5}), raw::expand(r({5, 1}), {5, 3}), 1e-12);        // stride-0 columns
  check_matmul(raw::expand(r({4, 5}), {3, 4, 5}), r({3, 5, 2}), 1e-12);  // stride-0 batch
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
