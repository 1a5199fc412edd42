// Backend kernels beyond the elementwise basics, against naive references and against the
// composed defaults other backends inherit: the fused AdamW (per tensor and over a parameter
// list), the one-pass sum of squares, batched products of any batch strides, grouped products and
// grouped linear layers, products into strided output views, and the float GEMM path (oneDNN where built) against the
// double one in every operand and output layout.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>

#include "fused_ops.h"
#include "ops_reference.h"
#include "random_views.h"
#include "tensor/backend.h"

using namespace promoe;
using namespace promoe::test;

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
    test::cpu_kernel(nn::fused::adamw_op)(p, g, m, v, lr, b1, b2, eps, wd, step, scale);
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

TEST_CASE("optim.adamw_list over many tensors equals optim.adamw per tensor") {
  Generator gen(13);
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
  test::cpu_kernel(nn::fused::adamw_list_op)(p1, g, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 0.05, 4, 0.6);
  nn::fused::adamw_list_reference(p2, g, m2, v2, 1e-3, 0.9, 0.999, 1e-8, 0.05, 4, 0.6);
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
  const double got = nn::fused::sum_of_squares(ts);
  CHECK(got == doctest::Approx(want).epsilon(1e-12));
  std::vector<Tensor> dense;
  for (const Tensor& t : ts) dense.push_back(raw::contiguous(t));
  CHECK(nn::fused::sum_of_squares_reference(dense) == doctest::Approx(want).epsilon(1e-6));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(threads == 1 ? 2 : 1);
  CHECK(nn::fused::sum_of_squares(ts) == got);
  omp_set_num_threads(threads);
}

TEST_CASE("the EMA update over a list of tensors equals the composed default, per tensor") {
  Generator gen(12);
  std::vector<Tensor> shadows, params, want;
  for (int64_t n : {1, 7, 40000, 3}) {  // one tensor larger than a slice
    shadows.push_back(randn(gen, {n}));
    params.push_back(randn(gen, {n}));
    want.push_back(raw::clone(shadows.back()));
  }
  const double decay = 0.995;
  nn::fused::ema_list_reference(want, params, decay);
  nn::fused::ema_update_(shadows, params, decay);
  for (size_t i = 0; i < shadows.size(); ++i) check_close(shadows[i], ref(want[i]), 1e-15);
  CHECK_THROWS_WITH_AS(nn::fused::ema_update_({randn(gen, {3})}, {randn(gen, {4})}, decay),
                       doctest::Contains("must be contiguous and match"), Error);
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
  check_default(raw::expand(r({1, 4, 2, 5}), {3, 4, 2, 5}), r({3, 4, 5, 2}));   // broadcast batch, folds
  check_default(raw::expand(r({3, 1, 2, 5}), {3, 4, 2, 5}), r({3, 4, 5, 2}));   // inner broadcast: copies
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
      moe::fused::grouped_matmul_reference(o, a, b);
      raw::fill_(outs.back(), 0.0);
    } else {
      moe::fused::grouped_matmul_into(outs, as, bs);
    }
    CAPTURE(fallback);
    for (size_t i = 0; i < outs.size(); ++i)
      check_close(raw::contiguous(outs[i]), naive_matmul(ref(as[i]), ref(bs[i])), 1e-10);
    CHECK(raw::narrow(buf, 0, 61, 5).to_vector<double>() == std::vector<double>(35, 1.0));  // rows no product owns
  }
  CHECK_THROWS_WITH_AS(moe::fused::grouped_matmul_into({raw::zeros({2, 2}, DType::F64)}, {r({2, 3})}, {r({2, 2})}),
                       doctest::Contains("grouped_matmul_into: product 0"), Error);
}

TEST_CASE("grouped linear layers and their bias + GELU backward equal the per-group ops, on the CPU and the default") {
  Generator gen(10);
  auto r = [&](const Shape& s) { return randn(gen, s); };
  // Segments of one sorted buffer as an expert bank uses them: groups of different sizes (one large
  // enough to share out, one empty), (out, in) weights used transposed.
  const std::vector<int64_t> rows{7, 0, 300, 1, 64};
  const int64_t D = 12, I = 20, A = 372;
  Tensor X = r({A, D}), G = r({A, I});
  std::vector<Tensor> w, b;
  for (size_t i = 0; i < rows.size(); ++i) {
    w.push_back(raw::transpose(r({I, D}), 0, 1));
    b.push_back(r({I}));
  }
  auto segments = [&](const Tensor& t) {
    std::vector<Tensor> v;
    for (int64_t i = 0, at = 0; i < int64_t(rows.size()); at += rows[size_t(i)], ++i)
      v.push_back(raw::narrow(t, 0, at, rows[size_t(i)]));
    return v;
  };
  for (bool fallback : {false, true}) {
    CAPTURE(fallback);
    Tensor pre = raw::zeros({A, I}, DType::F64), gelu = raw::zeros({A, I}, DType::F64),
           lin = raw::zeros({A, I}, DType::F64);
    Tensor gpre = raw::zeros({A, I}, DType::F64);
    std::vector<Tensor> gb;
    for (size_t i = 0; i < rows.size(); ++i) gb.push_back(raw::full({I}, 7.0, DType::F64));
    if (fallback) {  // the composed defaults, without the empty group (the raw ops drop it)
      auto busy = [&](std::vector<Tensor> v) {
        v.erase(v.begin() + 1);
        return v;
      };
      moe::fused::grouped_linear_reference(busy(segments(pre)), busy(segments(gelu)), busy(segments(X)), busy(w),
                                           busy(b));
      moe::fused::grouped_linear_reference(busy(segments(lin)), {}, busy(segments(X)), busy(w), busy(b));
      moe::fused::grouped_bias_gelu_backward_reference(busy(segments(gpre)), busy(gb), busy(segments(G)),
                                                       busy(segments(pre)));
      raw::fill_(gb[1], 0.0);
    } else {
      moe::fused::grouped_linear_into(segments(pre), segments(X), w, b, segments(gelu));
      moe::fused::grouped_linear_into(segments(lin), segments(X), w, b);
      moe::fused::grouped_bias_gelu_backward_into(segments(gpre), gb, segments(G), segments(pre));
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(i);
      Tensor x = segments(X)[i], want_pre = raw::add(raw::matmul(x, w[i]), b[i]);
      check_close(segments(pre)[i], ref(want_pre), 1e-10);
      check_close(segments(lin)[i], ref(want_pre), 1e-10);
      check_close(segments(gelu)[i], ref(raw::unary(UnaryOp::GeluTanh, want_pre)), 1e-10);
      nn::fused::BiasGeluGrads want = nn::fused::bias_gelu_backward(segments(G)[i], raw::clone(want_pre));
      check_close(segments(gpre)[i], ref(want.pre), 1e-10);
      check_close(gb[i], ref(want.bias), 1e-10);  // the empty group: zeros
    }
  }
  CHECK_THROWS_WITH_AS(
      moe::fused::grouped_linear_into({raw::zeros({2, 4}, DType::F64)}, {r({2, 3})}, {r({3, 4})}, {r({3})}),
      doctest::Contains("grouped_linear_into: group 0: bias"), Error);
  CHECK_THROWS_WITH_AS(moe::fused::grouped_linear_into({raw::transpose(raw::zeros({4, 2}, DType::F64), 0, 1)},
                                                       {r({2, 3})}, {r({3, 4})}, {r({4})}),
                       doctest::Contains("must be contiguous"), Error);
}

TEST_CASE("cosine scores and their backward on the CPU equal the composed default, a zero row included") {
  Generator gen(11);
  const int64_t T = 150, D = 24, E = 5;  // more than one block of rows
  Tensor x = randn(gen, {T, D}), q = randn(gen, {E, D}), gz = randn(gen, {T, E});
  q = raw::div(q, raw::unary(UnaryOp::Sqrt, raw::sum(raw::mul(q, q), {1}, true)));
  raw::fill_(raw::select(x, 0, 7), 0.0);  // a clamped norm: score 0, rnorm 1 / eps, no norm gradient
  const double eps = 1e-12;
  Tensor z = Tensor::empty({T, E}, DType::F64), r = Tensor::empty({T}, DType::F64);
  Tensor z0 = Tensor::empty({T, E}, DType::F64), r0 = Tensor::empty({T}, DType::F64);
  test::cpu_kernel(moe::fused::cosine_scores_op)(z, r, x, q, eps);
  moe::fused::cosine_scores_reference(z0, r0, x, q, eps);
  check_close(z, ref(z0), 1e-12);
  check_close(r, ref(r0), 1e-12);
  CHECK(raw::select(z, 0, 7).to_vector<double>() == std::vector<double>(E, 0.0));
  Tensor gx = Tensor::empty({T, D}, DType::F64), gs = Tensor::empty({T, E}, DType::F64);
  Tensor gx0 = Tensor::empty({T, D}, DType::F64), gs0 = Tensor::empty({T, E}, DType::F64);
  test::cpu_kernel(moe::fused::cosine_scores_backward_op)(gx, gs, gz, z, x, q, r, eps);
  moe::fused::cosine_scores_backward_reference(gx0, gs0, gz, z0, x, q, r0, eps);
  check_close(gx, ref(gx0), 1e-10);
  check_close(gs, ref(gs0), 1e-10);
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
            if (ko == 2)
              out = Tensor::view_of(Tensor::empty({d.bt, d.m, 2 * d.n}), {d.bt, d.m, d.n}, {d.m * 2 * d.n, 2 * d.n, 2},
                                    0);
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
