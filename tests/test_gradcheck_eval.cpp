// The composed convolution and max pool of the feature network (eval/conv.h), in double: values
// against a direct loop over the definition, and central-difference gradients.
#include <doctest/doctest.h>

#include "autograd/gradcheck.h"
#include "eval/conv.h"
#include "tensor/random.h"

using namespace promoe;

namespace {

// y[oy, ox, b, o] = bias[o] + sum_{ky, kx, c} w[o, ky, kx, c] x[oy*s - p + ky, ox*s - p + kx, b, c]
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t s, int64_t p) {
  const int64_t H = x.size(0), W = x.size(1), B = x.size(2), C = x.size(3), O = w.size(0), k = w.size(1);
  const int64_t Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = bias.to_vector<double>();
  std::vector<double> y(Ho * Wo * B * O);
  for (int64_t oy = 0; oy < Ho; ++oy)
    for (int64_t ox = 0; ox < Wo; ++ox)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t o = 0; o < O; ++o) {
          double acc = bv[o];
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx)
              for (int64_t c = 0; c < C; ++c) {
                const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += wv[((o * k + ky) * k + kx) * C + c] * xv[((iy * W + ix) * B + b) * C + c];
              }
          y[((oy * Wo + ox) * B + b) * O + o] = acc;
        }
  return y;
}

}  // namespace

TEST_CASE("conv2d equals the direct definition and passes gradcheck") {
  Generator gen(21);
  struct Geometry {
    int64_t H, W, k, stride, pad;
  };
  for (Geometry g :
       {Geometry{5, 4, 3, 1, 1}, Geometry{6, 6, 3, 2, 1}, Geometry{8, 4, 4, 4, 0}, Geometry{5, 5, 2, 2, 0}}) {
    CAPTURE(g.H);
    CAPTURE(g.k);
    CAPTURE(g.stride);
    CAPTURE(g.pad);
    Tensor x = gen.randn({g.H, g.W, 2, 3}, DType::F64), w = gen.randn({4, g.k, g.k, 3}, DType::F64),
           b = gen.randn({4}, DType::F64);
    Tensor y = eval::conv2d(x, w, b, g.stride, g.pad);
    const int64_t Ho = (g.H + 2 * g.pad - g.k) / g.stride + 1, Wo = (g.W + 2 * g.pad - g.k) / g.stride + 1;
    REQUIRE(y.shape() == Shape{Ho, Wo, 2, 4});
    std::vector<double> got = y.to_vector<double>(), want = direct_conv(x, w, b, g.stride, g.pad);
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
    for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) { return eval::conv2d(in[0], in[1], in[2], g.stride, g.pad); }, {x, w, b});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("max_pool2d picks each window's maximum and passes gradcheck") {
  Generator gen(22);
  Tensor x = gen.randn({4, 6, 2, 3}, DType::F64);
  Tensor y = eval::max_pool2d(x, 2);
  REQUIRE(y.shape() == Shape{2, 3, 2, 3});
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int64_t oy = 0; oy < 2; ++oy)
    for (int64_t ox = 0; ox < 3; ++ox)
      for (int64_t bc = 0; bc < 6; ++bc) {
        double m = -1e300;
        for (int64_t ky = 0; ky < 2; ++ky)
          for (int64_t kx = 0; kx < 2; ++kx) m = std::max(m, xv[((2 * oy + ky) * 6 + 2 * ox + kx) * 6 + bc]);
        CHECK(yv[(oy * 3 + ox) * 6 + bc] == m);
      }
  x.set_requires_grad(true);  // random normals: no ties, so the max is differentiable at x
  auto r = gradcheck([](const std::vector<Tensor>& in) { return eval::max_pool2d(in[0], 2); }, {x});
  CHECK_MESSAGE(r.ok, r.report);
}
