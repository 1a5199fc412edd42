// The autograd engine's contract: no-grad mode records nothing, the graph is freed after backward
// (a second backward throws unless retain_graph), detach, zero_grad, gradient accumulation across
// backward calls, gradients summed over several paths in topological order, leaf gradients that
// never alias other tensors.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace promoe;

namespace {
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

Tensor leaf(const std::vector<double>& v, const Shape& s) {
  Tensor t = raw::from_vector<double>(v, s);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("no-grad mode records nothing and restores the previous mode") {
  Tensor x = leaf({1, 2, 3}, {3});
  CHECK(grad_enabled());
  {
    NoGradGuard ng;
    CHECK(!grad_enabled());
    Tensor y = exp(x) * x + 1.0;
    CHECK(!y.requires_grad());
    CHECK(!y.grad_fn());
    CHECK(y.is_leaf());
    {
      NoGradGuard nested;
      CHECK(!grad_enabled());
    }
    CHECK(!grad_enabled());  // the inner guard restores "off", not "on"
    Tensor m = matmul(reshape(x, {1, 3}), reshape(x, {3, 1}));
    CHECK(!m.requires_grad());
  }
  CHECK(grad_enabled());
  Tensor y = x * 2.0;
  CHECK(y.requires_grad());
  CHECK(y.grad_fn());
  CHECK(y.grad_fn()->name == "mul_scalar");
}

TEST_CASE("ops on tensors that need no grad record nothing") {
  Tensor a = raw::from_vector<double>({1, 2}, {2}), b = raw::from_vector<double>({3, 4}, {2});
  Tensor c = softmax(a * b + a, 0);
  CHECK(!c.requires_grad());
  CHECK(!c.grad_fn());
  // Only the input that requires grad gets a gradient.
  Tensor x = leaf({1, 2}, {2});
  sum(x * a).backward();
  CHECK(vals(x.grad()) == vals(a));
  CHECK(!a.grad().defined());
}

TEST_CASE("the graph is freed after backward; retain_graph keeps it") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = sum(exp(x) * x);
  y.backward();
  std::vector<double> g1 = vals(x.grad());
  bool threw = false;
  try {
    y.backward();
  } catch (const Error& e) {
    threw = true;
    CHECK(std::string(e.what()).find("retain_graph") != std::string::npos);
  }
  CHECK(threw);

  x.zero_grad();
  Tensor z = sum(exp(x) * x);
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();  // the retained graph runs again and the gradients add up
  std::vector<double> g2 = vals(x.grad());
  for (size_t i = 0; i < g1.size(); ++i) CHECK(g2[i] == doctest::Approx(2 * g1[i]));
  CHECK_THROWS_AS(z.backward(), Error);  // the second call did not retain it
}

TEST_CASE("detach shares storage and cuts the graph") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor d = x.detach();
  CHECK(d.storage().get() == x.storage().get());
  CHECK(!d.requires_grad());
  CHECK(d.is_leaf());
  Tensor y = sum(x * d);  // d acts as a constant: dy/dx = d
  y.backward();
  CHECK(vals(x.grad()) == std::vector<double>{1, 2, 3});
  Tensor h = (x * 2.0).detach();
  CHECK(!h.requires_grad());
  CHECK(!h.grad_fn());
}

TEST_CASE("zero_grad drops the gradient; a second backward accumulates") {
  Tensor x = leaf({1, -1}, {2});
  Tensor w = leaf({3, 4}, {2});
  sum(x * w).backward();
  CHECK(vals(x.grad()) == std::vector<double>{3, 4});
  CHECK(vals(w.grad()) == std::vector<double>{1, -1});
  sum(x * x).backward();  // a new graph: dx = 2x adds to the stored 3, 4
  CHECK(vals(x.grad()) == std::vector<double>{5, 2});
  CHECK(vals(w.grad()) == std::vector<double>{1, -1});
  x.zero_grad();
  CHECK(!x.grad().defined());
  sum(x * 3.0).backward();
  CHECK(vals(x.grad()) == std::vector<double>{3, 3});
  // The stored gradient is independent of the graph's buffers.
  Tensor g = x.grad();
  sum(x).backward();
  CHECK(vals(g) == std::vector<double>{3, 3});
  CHECK(vals(x.grad()) == std::vector<double>{4, 4});
}

TEST_CASE("gradients from several paths are summed before a node runs") {
  // a feeds b, c and d; c feeds d: a must wait for every consumer.
  Tensor x = leaf({0.5, -1.0}, {2});
  Tensor a = x * 2.0;
  Tensor b = a * a;       // 4x^2
  Tensor c = exp(a);      // e^{2x}
  Tensor d = c * a + b;   // 2x e^{2x} + 4x^2
  sum(d + a).backward();  // + 2x
  std::vector<double> xv{0.5, -1.0}, g = vals(x.grad());
  for (int i = 0; i < 2; ++i) {
    double v = xv[i];
    CHECK(g[i] == doctest::Approx(2 * std::exp(2 * v) + 4 * v * std::exp(2 * v) + 8 * v + 2));
  }
  // A leaf used by many ops, and one op using it twice.
  Tensor y = leaf({3}, {1});
  sum(y * y + y * 2.0 + exp(y) - y).backward();
  CHECK(vals(y.grad())[0] == doctest::Approx(2 * 3 + 2 + std::exp(3.0) - 1));
}

TEST_CASE("long chains do not recurse") {
  Tensor x = leaf({1.0}, {1});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0001 + 0.0;
  y.backward(raw::ones({1}, DType::F64));
  CHECK(vals(x.grad())[0] == doctest::Approx(std::pow(1.0001, 20000)));
}

TEST_CASE("backward from a leaf, with an explicit gradient, and of a non-leaf intermediate") {
  Tensor x = leaf({1, 2}, {2});
  x.backward(raw::from_vector<double>({5, 6}, {2}));
  CHECK(vals(x.grad()) == std::vector<double>{5, 6});
  x.zero_grad();
  Tensor y = x * x;
  y.backward(raw::from_vector<double>({1, 10}, {2}));
  CHECK(vals(x.grad()) == std::vector<double>{2, 40});
  CHECK(!y.grad().defined());  // intermediates do not keep gradients
  CHECK(!y.is_leaf());
}

TEST_CASE("a leaf's gradient never aliases a tensor anyone else holds") {
  // A gradient passed straight through (x + 0 * y hands the seed to x) is the caller's seed: the
  // leaf keeps a copy. A fresh gradient nothing else holds is adopted as it is.
  Tensor x = leaf({1, 2}, {2}), y = leaf({3, 4}, {2});
  Tensor seed = raw::from_vector<double>({5, 6}, {2});
  (x + y * 0.0).backward(seed);
  raw::fill_(seed, 0.0);
  CHECK(vals(x.grad()) == std::vector<double>{5, 6});
  Tensor w = leaf({1, 2}, {2});
  Tensor shared = raw::from_vector<double>({7, 8}, {2});
  Tensor z = w * 2.0;
  z.backward(shared);
  raw::fill_(shared, 0.0);
  CHECK(vals(w.grad()) == std::vector<double>{14, 16});
  // A second backward accumulates into a fresh tensor, leaving the first gradient's holders alone.
  Tensor first = w.grad();
  (w * 1.0).backward(raw::from_vector<double>({1, 1}, {2}));
  CHECK(vals(first) == std::vector<double>{14, 16});
  CHECK(vals(w.grad()) == std::vector<double>{15, 17});
}

TEST_CASE("gradients reach leaves of any shape through broadcasting, with the leaf's shape") {
  Tensor b = leaf({1, 2, 3}, {3});
  Tensor s = leaf({2}, {});
  Tensor x = raw::ones({4, 3}, DType::F64);
  sum(x * b * s).backward();
  CHECK(b.grad().shape() == Shape{3});
  CHECK(vals(b.grad()) == std::vector<double>{8, 8, 8});
  CHECK(s.grad().shape() == Shape{});
  CHECK(s.grad().item() == 24);
}

TEST_CASE("gradcheck itself reports a wrong derivative") {
  // A deliberately wrong backward: d/dx x^2 claimed to be x.
  auto bad_square = [](const std::vector<Tensor>& in) {
    Tensor x = in[0];
    Tensor out = raw::mul(x, x);
    Tensor sx = x.detach();
    return record(out, "bad_square", {x}, [sx](const Tensor& g) { return std::vector<Tensor>{raw::mul(g, sx)}; });
  };
  Tensor x = raw::from_vector<double>({1, 2}, {2});
  x.set_requires_grad(true);
  GradcheckResult r = gradcheck(bad_square, {x});
  CHECK(!r.ok);
  CHECK(r.report.find("input 0") != std::string::npos);
}
