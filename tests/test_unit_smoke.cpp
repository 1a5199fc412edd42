// First checks of the tensor core: creation, views, matmul, autograd through a small graph.
#include <doctest/doctest.h>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

using namespace promoe;

TEST_CASE("matmul of a transposed view matches the hand-computed product") {
  Tensor a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor c = matmul(a, transpose(a, 0, 1));  // (2, 2)
  CHECK(c.to_vector<float>() == std::vector<float>{14, 32, 32, 77});
}

TEST_CASE("a tensor used twice sums its gradients") {
  Tensor x = from_vector<double>({1, 2, 3}, {3});
  x.set_requires_grad(true);
  Tensor y = sum(x * x + x);
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 5, 7});
}

TEST_CASE("gradcheck passes for a composed expression with broadcasting") {
  Generator gen(3);
  Tensor a = gen.randn({3, 4}, DType::F64), b = gen.randn({4}, DType::F64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        return tanh(matmul(in[0], transpose(in[0], 0, 1))) + sum(in[1] * in[0], {1});
      },
      {a, b});
  CHECK_MESSAGE(r.ok, r.report);
}
