// The attention heads' register-blocked products (cpu/head_product.h): bit for bit the FMA chains
// of their definition at every panel width, row remainder and column tail, on strided operands, and
// close to the double-precision product.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/head_product.h"

using namespace promoe;

namespace {

struct Case {
  int64_t M, N, K;
};

std::vector<float> random_floats(size_t n, std::mt19937& gen) {
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

}  // namespace

TEST_CASE("head_product: the FMA chains of its definition, bit for bit, and close to double") {
  std::mt19937 gen(7);
  // The model's heads (64 tokens by 32 dims both ways), every panel width 1..4 vectors of 8 or 16
  // lanes with and without a column tail, row counts off the row blocks, and degenerate sizes.
  const std::vector<Case> cases = {{64, 64, 32}, {64, 32, 64}, {256, 256, 64}, {256, 64, 256}, {7, 5, 3},
                                   {1, 1, 1},    {13, 17, 9},  {9, 33, 40},    {30, 48, 16},   {5, 100, 70},
                                   {64, 72, 8},  {3, 24, 1},   {50, 80, 0}};
  for (const Case& c : cases) {
    const int64_t lda = c.K + 3, ldb = c.N + 5, ldc = c.N + 2;  // strided rows, as heads of a qkv buffer
    const std::vector<float> a = random_floats(size_t(c.M * lda), gen), b = random_floats(size_t(c.K * ldb + 1), gen);
    std::vector<float> got(size_t(c.M * ldc), -7.0f), want(got);
    const float alpha = 0.17677669f;
    cpu::head_product(c.M, c.N, c.K, alpha, a.data(), lda, b.data(), ldb, got.data(), ldc);
    cpu::head_product_reference(c.M, c.N, c.K, alpha, a.data(), lda, b.data(), ldb, want.data(), ldc);
    const std::string what = std::to_string(c.M) + "x" + std::to_string(c.N) + "x" + std::to_string(c.K);
    INFO(what);
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);  // padding untouched too
    double worst = 0;
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double exact = 0, scale = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          exact += double(a[size_t(i * lda + k)]) * double(b[size_t(k * ldb + j)]);
          scale += std::fabs(double(a[size_t(i * lda + k)]) * double(b[size_t(k * ldb + j)]));
        }
        exact *= alpha;
        worst = std::max(worst, std::fabs(got[size_t(i * ldc + j)] - exact) / (alpha * scale + 1e-30));
      }
    CHECK(worst < 1e-5);
  }
}
