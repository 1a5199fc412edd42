// The image ops of nn/image_ops.h in double: the fused convolution and GroupNorm against a direct
// loop over the definition and against their composed versions, central-difference gradients, and
// the nearest upsampling.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "nn/image_ops.h"
#include "tensor/random.h"

using namespace promoe;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return raw::reduce(ReduceOp::Max, raw::unary(UnaryOp::Abs, raw::sub(a, b)), {}, false).item();
}

struct Geometry {
  int64_t B, C, H, W, O, kh, kw, stride, pad;
  bool bias;
};

// y[b, o, oy, ox] = bias[o] + sum_{c, ky, kx} w[o, c, ky, kx] x[b, c, oy*s - p + ky, ox*s - p + kx]
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Geometry& g) {
  const int64_t Ho = (g.H + 2 * g.pad - g.kh) / g.stride + 1, Wo = (g.W + 2 * g.pad - g.kw) / g.stride + 1;
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> bv = bias.defined() ? bias.to_vector<double>() : std::vector<double>(size_t(g.O), 0.0);
  std::vector<double> y(size_t(g.B * g.O * Ho * Wo));
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = bv[size_t(o)];
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t ky = 0; ky < g.kh; ++ky)
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                acc += wv[size_t(((o * g.C + c) * g.kh + ky) * g.kw + kx)] *
                       xv[size_t(((b * g.C + c) * g.H + iy) * g.W + ix)];
              }
          y[size_t(((b * g.O + o) * Ho + oy) * Wo + ox)] = acc;
        }
  return y;
}

}  // namespace

TEST_CASE("conv2d equals the direct definition and its composed version, and passes gradcheck") {
  Generator gen(31);
  for (Geometry g : {Geometry{2, 3, 5, 4, 4, 3, 3, 1, 1, true}, Geometry{1, 2, 6, 6, 3, 3, 3, 2, 0, true},
                     Geometry{2, 3, 4, 5, 2, 1, 1, 1, 0, true}, Geometry{1, 2, 6, 7, 3, 2, 3, 2, 1, false},
                     Geometry{1, 2, 3, 3, 2, 3, 3, 1, 2, true}}) {
    CAPTURE(g.kh);
    CAPTURE(g.kw);
    CAPTURE(g.stride);
    CAPTURE(g.pad);
    Tensor x = gen.randn({g.B, g.C, g.H, g.W}, DType::F64), w = gen.randn({g.O, g.C, g.kh, g.kw}, DType::F64);
    Tensor b = g.bias ? gen.randn({g.O}, DType::F64) : Tensor();
    Tensor y = nn::conv2d(x, w, b, g.stride, g.pad);
    const std::vector<double> want = direct_conv(x, w, b, g), got = y.to_vector<double>();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
    CHECK(max_abs_diff(y, nn::conv2d_reference(x, w, b, g.stride, g.pad)) < 1e-12);
    std::vector<Tensor> inputs{x, w};
    if (g.bias) inputs.push_back(b);
    for (Tensor& t : inputs) t.set_requires_grad(true);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return nn::conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), g.stride, g.pad);
        },
        inputs);
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("conv2d takes a strided input and gives only the gradients asked for") {
  Generator gen(32);
  Tensor base = gen.randn({4, 5, 2, 3}, DType::F64), w = gen.randn({2, 3, 3, 3}, DType::F64);
  w.set_requires_grad(true);
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        return nn::conv2d(permute(in[0], {2, 3, 0, 1}), in[1], Tensor(), 1, 1);
      },
      {base, w});
  CHECK_MESSAGE(r.ok, r.report);
  base.set_requires_grad(true);
  w = w.detach();
  r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return nn::conv2d(permute(in[0], {2, 3, 0, 1}), w, Tensor(), 2, 1);
      },
      {base});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("conv2d over several row chunks of the CPU kernel equals the composed version, forward and backward") {
  // 64 channels of a 3x3 kernel over 64 columns: the CPU kernel gathers the output rows in more than
  // one chunk; both float dtypes.
  for (DType dt : {DType::F64, DType::F32}) {
    Generator gen(33);
    Tensor x = gen.randn({2, 64, 80, 64}, dt), w = raw::mul_scalar(gen.randn({8, 64, 3, 3}, dt), 0.05),
           b = gen.randn({8}, dt);
    for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
    Tensor y = nn::conv2d(x, w, b, 1, 1), yr = nn::conv2d_reference(x, w, b, 1, 1);
    const double tol = dt == DType::F64 ? 1e-10 : 1e-4;
    CHECK(max_abs_diff(y, yr) < tol);
    Tensor g = gen.randn(y.shape(), dt);
    std::vector<Tensor> fused, composed;
    sum(y * g).backward();
    for (Tensor* t : {&x, &w, &b}) {
      fused.push_back(t->grad());
      t->zero_grad();
    }
    sum(yr * g).backward();
    for (Tensor* t : {&x, &w, &b}) composed.push_back(t->grad());
    for (size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      const double scale = raw::reduce(ReduceOp::Max, raw::unary(UnaryOp::Abs, composed[i]), {}, false).item();
      CHECK(max_abs_diff(fused[i], composed[i]) < tol * (1 + scale));
    }
  }
}

TEST_CASE("group_norm equals its composed version and passes gradcheck") {
  Generator gen(34);
  struct Case {
    Shape shape;
    int64_t groups;
  };
  for (const Case& c : {Case{{2, 6, 3, 4}, 3}, Case{{1, 4, 5}, 1}, Case{{3, 4, 2, 2}, 4}, Case{{2, 8}, 2}}) {
    CAPTURE(shape_str(c.shape));
    CAPTURE(c.groups);
    const int64_t C = c.shape[1];
    Tensor x = raw::add_scalar(raw::mul_scalar(gen.randn(c.shape, DType::F64), 3.0), 1.5);
    Tensor w = gen.randn({C}, DType::F64), b = gen.randn({C}, DType::F64);
    Tensor y = nn::group_norm(x, c.groups, w, b, 1e-6);
    CHECK(max_abs_diff(y, nn::group_norm_reference(x, c.groups, w, b, 1e-6)) < 1e-12);
    // The definition at one element: (x - mean) / sqrt(var + eps) * w + b over its group.
    const std::vector<double> xv = x.to_vector<double>();
    const int64_t per_group = x.numel() / c.shape[0] / c.groups;
    double mu = 0, var = 0;
    for (int64_t i = 0; i < per_group; ++i) mu += xv[size_t(i)];
    mu /= double(per_group);
    for (int64_t i = 0; i < per_group; ++i) var += (xv[size_t(i)] - mu) * (xv[size_t(i)] - mu);
    var /= double(per_group);
    CHECK(y.to_vector<double>()[0] ==
          doctest::Approx((xv[0] - mu) / std::sqrt(var + 1e-6) * w.to_vector<double>()[0] + b.to_vector<double>()[0])
              .epsilon(1e-12));
    for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) { return nn::group_norm(in[0], c.groups, in[1], in[2], 1e-6); }, {x, w, b});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("group_norm of a strided input passes gradcheck") {
  Generator gen(35);
  Tensor base = gen.randn({3, 4, 2, 4}, DType::F64), w = gen.randn({4}, DType::F64), b = gen.randn({4}, DType::F64);
  for (Tensor* t : {&base, &w, &b}) t->set_requires_grad(true);
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        return nn::group_norm(permute(in[0], {2, 3, 0, 1}), 2, in[1], in[2], 1e-5);
      },
      {base, w, b});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("upsample_nearest2x repeats every pixel in a 2x2 block and passes gradcheck") {
  Generator gen(36);
  Tensor x = gen.randn({2, 3, 2, 3}, DType::F64);
  Tensor y = nn::upsample_nearest2x(x);
  REQUIRE(y.shape() == Shape{2, 3, 4, 6});
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int64_t bc = 0; bc < 6; ++bc)
    for (int64_t oy = 0; oy < 4; ++oy)
      for (int64_t ox = 0; ox < 6; ++ox)
        CHECK(yv[size_t((bc * 4 + oy) * 6 + ox)] == xv[size_t((bc * 2 + oy / 2) * 3 + ox / 2)]);
  x.set_requires_grad(true);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return nn::upsample_nearest2x(in[0]); }, {x});
  CHECK_MESSAGE(r.ok, r.report);
}
