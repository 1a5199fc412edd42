// Finite-difference gradient checks in double (autograd/gradcheck.h) of every differentiable op in
// autograd/ops.h, with broadcasting, non-contiguous inputs (transposed, narrowed, permuted and
// expanded views fed in) and tensors used more than once in a graph.
//
// Covered ops:
//   views/layout  reshape, flatten, permute, transpose, narrow, select, expand, squeeze, unsqueeze,
//                 contiguous, to(dtype) (explicit check: f32 steps are too coarse for differences),
//                 to(device) (cpu -> cpu)
//   arithmetic    add, sub, mul, div, pow(tensor, tensor), maximum, minimum, add/mul/pow with a
//                 scalar, the operators + - * / (tensor and scalar forms, scalar on either side),
//                 unary minus, neg
//   functions     exp, log, sqrt, rsqrt, tanh, sigmoid, silu, gelu_tanh, sin, cos, abs, relu, square,
//                 clamp, where
//   reductions    sum, mean (several dims, keepdim, all), max (values), amax
//   linear algebra matmul (1-D, 2-D, batched, broadcast batch dims, transposed operands)
//   normalisation softmax, log_softmax, layer_norm (with and without affine), normalize (both branches)
//   losses        cross_entropy, mse_loss
//   joining       cat, stack, split, chunk
//   indexing      index_select, index_add, gather, scatter_add, embedding, topk (values), sort (values)
// Not differentiable (no check): comparisons eq/ne/lt/le/gt/ge, argmax, the index outputs of
// max/topk/sort, creation ops.
//
// Non-smooth points are avoided by construction (the allow-list):
//   relu, abs        inputs |x| >= 0.1 (away from the kink at 0)
//   clamp            inputs at least 0.1 away from both bounds
//   maximum/minimum  operands differ by at least 0.1 everywhere (no ties)
//   max/amax, topk,  values distinct with gaps >= 0.1 along the reduced dim (no ties, so a
//   sort             perturbation of 1e-6 never changes the selection or the order)
//   log, sqrt,       inputs >= 0.1; pow(tensor, tensor) bases >= 0.1
//   rsqrt, pow
//   normalize        norms either well above eps or well below it (never at the clamp)
#include <doctest/doctest.h>

#include <numeric>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace promoe;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Marks every input as requiring grad and runs the check.
void gc(const char* name, const Fn& f, std::vector<Tensor> inputs, const GradcheckOptions& opt = {}) {
  for (Tensor& t : inputs) t.set_requires_grad(true);
  GradcheckResult r = gradcheck(f, inputs, opt);
  CHECK_MESSAGE(r.ok, name, ": ", r.report);
}

struct Inputs {
  Generator gen{2024};
  Tensor randn(const Shape& s) { return gen.randn(s, DType::F64); }
  // |x| in [0.1, ...) with random signs: away from 0.
  Tensor away_from_zero(const Shape& s) {
    Tensor n = randn(s);
    return raw::mul(raw::unary(UnaryOp::Sign, n), raw::add_scalar(raw::unary(UnaryOp::Abs, n), 0.1));
  }
  Tensor positive(const Shape& s) { return raw::add_scalar(raw::unary(UnaryOp::Abs, randn(s)), 0.1); }
  // Distinct values along the last dim, at least 0.1 apart: a shuffled ramp plus small noise.
  Tensor distinct(const Shape& s) {
    int64_t n = numel_of(s);
    Tensor keys = gen.uniform({n}, 0, 1, DType::F64);
    std::vector<int64_t> order = raw::sort(keys).indices.to_vector<int64_t>();
    std::vector<double> v(n);
    std::vector<double> noise = gen.uniform({n}, 0, 0.05, DType::F64).to_vector<double>();
    for (int64_t i = 0; i < n; ++i) v[order[i]] = 0.15 * double(i) - 0.07 * double(n) + noise[i];
    return raw::from_vector<double>(v, s);
  }
};

}  // namespace

TEST_CASE("gradcheck: views and layout changes") {
  Inputs in;
  gc("reshape", [](auto& x) { return reshape(x[0], {3, -1}); }, {in.randn({2, 3, 2})});
  gc("reshape of a transposed view", [](auto& x) { return reshape(transpose(x[0], 0, 1), {-1}); }, {in.randn({3, 4})});
  gc("flatten", [](auto& x) { return flatten(x[0], 1); }, {in.randn({2, 3, 2})});
  gc("flatten all", [](auto& x) { return flatten(x[0]); }, {in.randn({2, 3})});
  gc("permute", [](auto& x) { return permute(x[0], {2, 0, 1}); }, {in.randn({2, 3, 4})});
  gc("transpose", [](auto& x) { return transpose(x[0], -1, 0); }, {in.randn({2, 3, 4})});
  gc("narrow", [](auto& x) { return narrow(x[0], 1, 1, 2); }, {in.randn({3, 4})});
  gc("narrow of a permuted view",
     [](auto& x) {
       return narrow(permute(x[0], {1, 0, 2}), 0, 1, 1);
     },
     {in.randn({2, 3, 2})});
  gc("select", [](auto& x) { return select(x[0], -1, 2); }, {in.randn({3, 4})});
  gc("expand", [](auto& x) { return expand(x[0], {2, 3, 4}); }, {in.randn({3, 1})});
  gc("squeeze", [](auto& x) { return squeeze(x[0], 1); }, {in.randn({3, 1, 2})});
  gc("unsqueeze", [](auto& x) { return unsqueeze(x[0], -1); }, {in.randn({3, 2})});
  gc("contiguous", [](auto& x) { return contiguous(transpose(x[0], 0, 1)); }, {in.randn({3, 2})});
  gc("to(cpu)", [](auto& x) { return to(x[0], Device::cpu()) * x[0]; }, {in.randn({3})});
  gc("to(f64) no-op", [](auto& x) { return to(x[0], DType::F64); }, {in.randn({3})});
}

TEST_CASE("to(dtype) passes gradients back in the source dtype") {
  Tensor x = raw::from_vector<float>({1, 2, 3}, {3});
  x.set_requires_grad(true);
  Tensor w = raw::from_vector<double>({0.5, -1, 2}, {3});
  sum(to(x, DType::F64) * w).backward();
  CHECK(x.grad().dtype() == DType::F32);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.5, -1, 2});
}

TEST_CASE("gradcheck: binary arithmetic with broadcasting and strided operands") {
  Inputs in;
  gc("add", [](auto& x) { return add(x[0], x[1]); }, {in.randn({2, 3}), in.randn({3})});
  gc("add (both broadcast)", [](auto& x) { return x[0] + x[1]; }, {in.randn({2, 1, 3}), in.randn({4, 1})});
  gc("sub", [](auto& x) { return sub(x[0], x[1]); }, {in.randn({2, 1}), in.randn({2, 3})});
  gc("mul", [](auto& x) { return mul(x[0], x[1]); }, {in.randn({2, 3}), in.randn({1, 3})});
  gc("mul of transposed views", [](auto& x) { return transpose(x[0], 0, 1) * x[1]; },
     {in.randn({3, 2}), in.randn({2, 3})});
  gc("div", [](auto& x) { return div(x[0], x[1]); }, {in.randn({2, 3}), in.positive({3})});
  gc("div (scalar tensor)", [](auto& x) { return x[0] / x[1]; }, {in.randn({2, 3}), in.positive({})});
  gc("pow", [](auto& x) { return pow(x[0], x[1]); }, {in.positive({2, 3}), in.randn({3})});
  Tensor a = in.randn({2, 3});
  Tensor gap = in.away_from_zero({2, 3});
  Tensor b = raw::add(a, gap);  // differs from a by at least 0.1 everywhere
  gc("maximum", [](auto& x) { return maximum(x[0], x[1]); }, {a, b});
  gc("minimum", [](auto& x) { return minimum(x[0], x[1]); }, {raw::clone(a), raw::clone(b)});
  Tensor row = in.randn({3});
  Tensor far = raw::add(raw::expand(row, {2, 3}), in.away_from_zero({2, 3}));
  gc("maximum (broadcast)", [](auto& x) { return maximum(x[0], x[1]); }, {far, row});
  gc("minimum (broadcast, expanded view)",
     [](auto& x) {
       return minimum(expand(x[1], {2, 3}), x[0]);
     },
     {raw::clone(far), raw::clone(row)});
}

TEST_CASE("gradcheck: scalar forms and operators") {
  Inputs in;
  gc("add scalar", [](auto& x) { return add(x[0], 2.5); }, {in.randn({3})});
  gc("mul scalar", [](auto& x) { return mul(x[0], -1.5); }, {in.randn({3})});
  gc("pow scalar", [](auto& x) { return pow(x[0], 2.5); }, {in.positive({3})});
  gc("pow scalar (negative exponent)", [](auto& x) { return pow(x[0], -1.5); }, {in.positive({3})});
  gc("operator+ scalar", [](auto& x) { return x[0] + 1.0; }, {in.randn({3})});
  gc("operator- scalar", [](auto& x) { return x[0] - 1.0; }, {in.randn({3})});
  gc("operator* scalar", [](auto& x) { return x[0] * 3.0; }, {in.randn({3})});
  gc("operator/ scalar", [](auto& x) { return x[0] / 4.0; }, {in.randn({3})});
  gc("scalar * tensor", [](auto& x) { return 0.5 * x[0]; }, {in.randn({3})});
  gc("unary minus", [](auto& x) { return -x[0]; }, {in.randn({3})});
  gc("neg", [](auto& x) { return neg(x[0]); }, {in.randn({3})});
  gc("operators combined", [](auto& x) { return (x[0] - x[1]) * (x[0] + x[1]) / (x[1] * x[1] + 1.0); },
     {in.randn({2, 3}), in.randn({3})});
}

TEST_CASE("gradcheck: elementwise functions, also on non-contiguous inputs") {
  Inputs in;
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    int domain;  // 0 any, 1 positive, 2 away from zero
  };
  std::vector<Case> cases = {
      {"exp", [](const Tensor& t) { return exp(t); }, 0},
      {"log", [](const Tensor& t) { return log(t); }, 1},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, 1},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }, 1},
      {"tanh", [](const Tensor& t) { return tanh(t); }, 0},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, 0},
      {"silu", [](const Tensor& t) { return silu(t); }, 0},
      {"gelu_tanh", [](const Tensor& t) { return gelu_tanh(t); }, 0},
      {"sin", [](const Tensor& t) { return sin(t); }, 0},
      {"cos", [](const Tensor& t) { return cos(t); }, 0},
      {"abs", [](const Tensor& t) { return abs(t); }, 2},
      {"relu", [](const Tensor& t) { return relu(t); }, 2},
      {"square", [](const Tensor& t) { return square(t); }, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto make = [&](const Shape& s) {
      return c.domain == 1 ? in.positive(s) : c.domain == 2 ? in.away_from_zero(s) : in.randn(s);
    };
    auto f = c.f;
    gc(c.name, [f](auto& x) { return f(x[0]); }, {make({2, 3})});
    gc(c.name, [f](auto& x) { return f(transpose(x[0], 0, 1)); }, {make({3, 2})});                       // transposed
    gc(c.name, [f](auto& x) { return f(narrow(x[0], 1, 1, 3)); }, {make({2, 5})});                       // narrowed
    gc(c.name, [f](auto& x) { return f(expand(x[0], {2, 3})) * x[1]; }, {make({3}), in.randn({2, 3})});  // expanded
  }
  // clamp: values at least 0.1 away from both bounds -0.5 and 0.5.
  Tensor v = raw::from_vector<double>({-1.3, -0.7, -0.3, 0.0, 0.2, 0.35, 0.61, 2.0}, {2, 4});
  gc("clamp", [](auto& x) { return clamp(x[0], -0.5, 0.5); }, {v});
  gc("clamp (transposed)", [](auto& x) { return clamp(transpose(x[0], 0, 1), -0.5, 0.5); }, {raw::clone(v)});
  // where: gradients to both branches, with broadcasting of the condition and the branches.
  Tensor cond = raw::from_vector<double>({1, 0, 1}, {3});
  gc("where", [cond](auto& x) { return where(cond, x[0], x[1]); }, {in.randn({2, 3}), in.randn({2, 1})});
  gc("where (i64 condition, transposed branch)",
     [](auto& x) {
       return where(raw::from_vector<int64_t>({0, 1}, {2, 1}), transpose(x[0], 0, 1), x[1]);
     },
     {in.randn({3, 2}), in.randn({3})});
}

TEST_CASE("gradcheck: reductions over several dims, keepdim, all dims, non-contiguous input") {
  Inputs in;
  gc("sum all", [](auto& x) { return sum(x[0]); }, {in.randn({2, 3})});
  gc("sum dims", [](auto& x) { return sum(x[0], {0, 2}); }, {in.randn({2, 3, 2})});
  gc("sum keepdim", [](auto& x) { return sum(x[0], {-1}, true); }, {in.randn({2, 3})});
  gc("sum of a permuted view", [](auto& x) { return sum(permute(x[0], {2, 0, 1}), {1, 2}); }, {in.randn({2, 3, 2})});
  gc("mean all", [](auto& x) { return mean(x[0]); }, {in.randn({2, 3})});
  gc("mean dims keepdim", [](auto& x) { return mean(x[0], {0, 2}, true); }, {in.randn({2, 3, 2})});
  gc("mean of a narrowed view", [](auto& x) { return mean(narrow(x[0], 1, 1, 2), {1}); }, {in.randn({3, 4})});
  gc("max values", [](auto& x) { return max(x[0], 1).values; }, {in.distinct({3, 4})});
  gc("max values keepdim, dim 0", [](auto& x) { return max(x[0], 0, true).values; }, {in.distinct({3, 4})});
  gc("amax of a transposed view", [](auto& x) { return amax(transpose(x[0], 0, 1), -1); }, {in.distinct({4, 3})});
}

TEST_CASE("gradcheck: matmul in all its shape rules") {
  Inputs in;
  auto mm = [](auto& x) { return matmul(x[0], x[1]); };
  gc("matmul 2-D", mm, {in.randn({3, 4}), in.randn({4, 2})});
  gc("matmul dot", mm, {in.randn({4}), in.randn({4})});
  gc("matmul 1-D @ 2-D", mm, {in.randn({4}), in.randn({4, 2})});
  gc("matmul 2-D @ 1-D", mm, {in.randn({3, 4}), in.randn({4})});
  gc("matmul 1-D @ 3-D", mm, {in.randn({4}), in.randn({2, 4, 3})});
  gc("matmul batched @ 2-D", mm, {in.randn({2, 3, 4}), in.randn({4, 2})});
  gc("matmul 2-D @ batched", mm, {in.randn({3, 4}), in.randn({2, 4, 2})});
  gc("matmul batched", mm, {in.randn({2, 3, 4}), in.randn({2, 4, 2})});
  gc("matmul broadcast batch", mm, {in.randn({2, 1, 3, 2}), in.randn({3, 2, 2})});
  gc("matmul transposed operands", [](auto& x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], -1, -2)); },
     {in.randn({4, 3}), in.randn({2, 4})});
  gc("matmul narrowed operand", [](auto& x) { return matmul(narrow(x[0], 1, 1, 3), x[1]); },
     {in.randn({2, 5}), in.randn({3, 2})});
  gc("matmul x @ x^T (x used twice)", [](auto& x) { return matmul(x[0], transpose(x[0], 0, 1)); }, {in.randn({3, 2})});
}

TEST_CASE("gradcheck: softmax, layer_norm, normalize") {
  Inputs in;
  gc("softmax last", [](auto& x) { return softmax(x[0], -1); }, {in.randn({2, 4})});
  gc("softmax dim 0 of a transposed view", [](auto& x) { return softmax(transpose(x[0], 0, 1), 0); },
     {in.randn({4, 3})});
  gc("log_softmax", [](auto& x) { return log_softmax(x[0], 1); }, {in.randn({2, 3, 2})});
  gc("log_softmax of a narrowed view", [](auto& x) { return log_softmax(narrow(x[0], 1, 0, 3), -1); },
     {in.randn({2, 5})});
  gc("layer_norm", [](auto& x) { return layer_norm(x[0], 1e-5); }, {in.randn({3, 5})});
  gc("layer_norm affine", [](auto& x) { return layer_norm(x[0], 1e-5, x[1], x[2]); },
     {in.randn({2, 3, 4}), in.randn({4}), in.randn({4})});
  gc("layer_norm of a transposed view", [](auto& x) { return layer_norm(transpose(x[0], 0, 1), 1e-5, x[1]); },
     {in.randn({4, 3}), in.randn({4})});
  gc("normalize", [](auto& x) { return normalize(x[0], 1); }, {in.randn({3, 4})});
  gc("normalize dim 0, permuted", [](auto& x) { return normalize(transpose(x[0], 0, 1), 0); }, {in.randn({3, 4})});
  // Norms of about 1 with eps = 10: every row in the clamped branch, y = x / eps.
  gc("normalize clamped", [](auto& x) { return normalize(x[0], -1, 10.0); }, {in.randn({2, 3})});
}

TEST_CASE("gradcheck: losses") {
  Inputs in;
  Tensor targets = raw::from_vector<int64_t>({2, 0, 3}, {3});
  gc("cross_entropy", [targets](auto& x) { return cross_entropy(x[0], targets); }, {in.randn({3, 4})});
  gc("cross_entropy of transposed logits", [targets](auto& x) { return cross_entropy(transpose(x[0], 0, 1), targets); },
     {in.randn({4, 3})});
  gc("mse_loss", [](auto& x) { return mse_loss(x[0], x[1]); }, {in.randn({2, 3}), in.randn({2, 3})});
}

TEST_CASE("gradcheck: cat, stack, split, chunk") {
  Inputs in;
  gc("cat dim 0", [](auto& x) { return cat({x[0], x[1]}, 0); }, {in.randn({2, 3}), in.randn({1, 3})});
  gc("cat dim 1 with a transposed part",
     [](auto& x) {
       return cat({x[0], transpose(x[1], 0, 1), x[0]}, -1);
     },
     {in.randn({2, 3}), in.randn({2, 2})});
  gc("stack", [](auto& x) { return stack({x[0], x[1], x[0]}, 1); }, {in.randn({2, 3}), in.randn({2, 3})});
  gc("split",
     [](auto& x) {
       std::vector<Tensor> p = split(x[0], 2, 1);  // widths 2, 2, 1
       return p[0] * p[1] + sum(p[2], {1}, true);
     },
     {in.randn({2, 5})});
  gc("chunk",
     [](auto& x) {
       std::vector<Tensor> p = chunk(x[0], 3, 0);  // rows 2, 2, 2
       return cat({p[2], p[0] * 2.0}, 1);
     },
     {in.randn({6, 2})});
}

TEST_CASE("gradcheck: indexing ops (gradients to the data operands)") {
  Inputs in;
  Tensor idx = raw::from_vector<int64_t>({2, 0, 2}, {3});
  gc("index_select dim 0 (repeated index)", [idx](auto& x) { return index_select(x[0], 0, idx); }, {in.randn({3, 2})});
  gc("index_select dim 1 of a transposed view", [idx](auto& x) { return index_select(transpose(x[0], 0, 1), 1, idx); },
     {in.randn({3, 2})});
  gc("index_add", [idx](auto& x) { return index_add(x[0], 0, idx, x[1]); }, {in.randn({3, 2}), in.randn({3, 2})});
  gc("index_add dim 1", [idx](auto& x) { return index_add(x[0], 1, idx, transpose(x[1], 0, 1)); },
     {in.randn({2, 4}), in.randn({3, 2})});
  Tensor gidx = raw::from_vector<int64_t>({1, 0, 1, 2, 2, 2}, {3, 2});
  gc("gather dim 1", [gidx](auto& x) { return gather(x[0], 1, gidx); }, {in.randn({3, 3})});
  gc("gather dim 0 of a permuted view",
     [gidx](auto& x) { return gather(transpose(x[0], 0, 1), 0, narrow(gidx, 0, 0, 2)); }, {in.randn({2, 3})});
  gc("scatter_add", [gidx](auto& x) { return scatter_add(x[0], 1, gidx, x[1]); }, {in.randn({3, 3}), in.randn({3, 2})});
  gc("scatter_add dim 0 (transposed source)",
     [](auto& x) {
       return scatter_add(x[0], 0, raw::from_vector<int64_t>({1, 0, 1, 1}, {2, 2}), transpose(x[1], 0, 1));
     },
     {in.randn({2, 3}), in.randn({2, 2})});
  Tensor tokens = raw::from_vector<int64_t>({3, 1, 3, 0}, {2, 2});
  gc("embedding", [tokens](auto& x) { return embedding(x[0], tokens); }, {in.randn({4, 3})});
  gc("topk values", [](auto& x) { return topk(x[0], 2).values; }, {in.distinct({3, 5})});
  gc("topk smallest, dim 0", [](auto& x) { return topk(x[0], 2, 0, false).values; }, {in.distinct({4, 3})});
  gc("sort values", [](auto& x) { return sort(x[0], -1, true).values; }, {in.distinct({2, 4})});
  gc("sort values dim 0 of a transposed view", [](auto& x) { return sort(transpose(x[0], 0, 1), 0).values; },
     {in.distinct({3, 4})});
}

TEST_CASE("gradcheck: composed graphs that reuse tensors") {
  Inputs in;
  gc("x used twice in one op", [](auto& x) { return x[0] * x[0]; }, {in.randn({3})});
  gc("diamond",
     [](auto& x) {
       Tensor a = exp(x[0] * 0.5);
       Tensor b = a * x[1];
       return sum(a + b * a, {1}) + mean(b);
     },
     {in.randn({2, 3}), in.randn({3})});
  gc("attention-like block",
     [](auto& x) {
       Tensor q = matmul(x[0], x[1]), k = matmul(x[0], x[2]);
       Tensor p = softmax(matmul(q, transpose(k, -1, -2)) * 0.5, -1);
       return layer_norm(matmul(p, x[0]) + x[0], 1e-5);
     },
     {in.randn({2, 3, 4}), in.randn({4, 4}), in.randn({4, 4})});
}
