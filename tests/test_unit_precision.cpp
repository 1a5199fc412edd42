// bf16 mixed precision of matrix products (tensor/precision.h) on the CPU: under BF16 a float
// matmul, batched matmul of strided views, grouped matmul and the fused attention equal the same
// computation in FP32 on operands rounded to bf16 by hand (through the BF16 dtype), and differ from
// plain FP32; float64 ignores the setting; the guard is thread-local and restores the setting.
// Products run both ways the CPU backend has: on the CPU's bf16 units (cpu/bf16_matmul.h, where
// this machine has them) and through rounded copies (everywhere).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "cpu/bf16_matmul.h"
#include "fused_ops.h"
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tensor/random.h"

using namespace promoe;

namespace {

// Rounded to bf16 by hand: through the BF16 storage dtype and back.
Tensor bf16(const Tensor& t) { return raw::to(raw::to(t, DType::BF16), DType::F32); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// |got - want| <= atol + rtol * |want| everywhere. Same bf16 operands on both sides: only the
// accumulation order may differ (a few f32 ulps of sums of K terms).
void check_close(const Tensor& got, const Tensor& want, const std::string& what, double rtol = 1e-5,
                 double atol = 1e-5) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what);
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int64_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i) bad += !(std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]));
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << g.size() << " elements differ, max |diff| "
                               << max_abs_diff(got, want));
}

// For results fed by a rounded intermediate that the two sides compute in f32 by different routes
// (the probabilities, the score gradient): an element of it within an f32 ulp of a bf16 rounding
// midpoint may round to the neighbouring bf16 value on one side, which moves the few results it
// feeds by one bf16 ulp of one term (~1e-4 here). All but 1% of the elements must be tight, and
// every one within `loose`; the bf16 vs fp32 difference is ~5e-3.
void check_close_up_to_ties(const Tensor& got, const Tensor& want, const std::string& what, double loose = 5e-4) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what);
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int64_t loose_only = 0;
  for (size_t i = 0; i < g.size(); ++i) loose_only += !(std::abs(g[i] - w[i]) <= 1e-5 + 1e-5 * std::abs(w[i]));
  CHECK_MESSAGE(double(loose_only) <= 0.01 * double(g.size()),
                what << ": " << loose_only << " of " << g.size() << " elements beyond the tight tolerance");
  CHECK_MESSAGE(max_abs_diff(got, want) <= loose, what << ": max |diff| " << max_abs_diff(got, want));
}

// bf16 rounding of operands of magnitude ~1 moves a product of K ~ 40 terms by ~1e-2.
void check_differs(const Tensor& bf16_result, const Tensor& fp32_result, const std::string& what) {
  const double d = max_abs_diff(bf16_result, fp32_result);
  CHECK_MESSAGE(d > 1e-4, what << ": the bf16 result is within " << d << " of the fp32 one");
}

// Two OpenMP threads for the scope (ctest runs with one): the CPU backend's parallel loops run
// products on worker threads, where the thread-local setting keeps its default, so the setting
// must be read on the calling thread and passed down.
class TwoThreads {
 public:
  TwoThreads() : prev_(omp_get_max_threads()) { omp_set_num_threads(2); }
  ~TwoThreads() { omp_set_num_threads(prev_); }

 private:
  int prev_;
};

// The CPU products' two bf16 paths: native where the machine has bf16 units, then rounded copies.
// Native products are switched back on when the scope ends.
std::vector<bool> bf16_paths() {
  std::vector<bool> native{false};
  if (cpu::has_native_bf16()) native.insert(native.begin(), true);
  return native;
}
class NativeBf16 {
 public:
  explicit NativeBf16(bool allow) { cpu::allow_native_bf16(allow); }
  ~NativeBf16() { cpu::allow_native_bf16(true); }
  NativeBf16(const NativeBf16&) = delete;
  NativeBf16& operator=(const NativeBf16&) = delete;
};

Tensor transposed(Generator& gen, const Shape& s) {  // a (.., r, c) view over a (.., c, r) tensor
  Shape t = s;
  std::swap(t[t.size() - 1], t[t.size() - 2]);
  return raw::transpose(gen.randn(t), -1, -2);
}

}  // namespace

TEST_CASE("the GEMM precision guard nests, restores the previous setting and is per thread") {
  CHECK(gemm_precision() == GemmPrecision::FP32);
  {
    GemmPrecisionGuard outer(GemmPrecision::BF16);
    CHECK(gemm_precision() == GemmPrecision::BF16);
    CHECK(gemm_rounds_to_bf16(DType::F32));
    CHECK_FALSE(gemm_rounds_to_bf16(DType::F64));
    GemmPrecision other = GemmPrecision::BF16;
    std::thread([&] { other = gemm_precision(); }).join();
    CHECK(other == GemmPrecision::FP32);
    {
      GemmPrecisionGuard inner(GemmPrecision::FP32);
      CHECK_FALSE(gemm_rounds_to_bf16(DType::F32));
    }
    CHECK(gemm_precision() == GemmPrecision::BF16);
  }
  CHECK(gemm_precision() == GemmPrecision::FP32);
  CHECK(parse_gemm_precision("bf16") == GemmPrecision::BF16);
  CHECK(parse_gemm_precision("fp32") == GemmPrecision::FP32);
  CHECK_THROWS_WITH_AS(parse_gemm_precision("fp16"), doctest::Contains("expected fp32 or bf16"), Error);
}

TEST_CASE("under BF16 float matmul and batched matmul of strided views read their operands rounded to bf16") {
  for (bool native : bf16_paths()) {
    CAPTURE(native);
    NativeBf16 path(native);
    TwoThreads threads;
    Generator gen(31);
    struct Case {
      std::string name;
      Tensor a, b;
    };
    Tensor wide = gen.randn({5, 3, 19, 44});
    const Case cases[] = {
        {"2-D", gen.randn({33, 40}), gen.randn({40, 20})},
        {"2-D transposed operands", transposed(gen, {33, 40}), transposed(gen, {40, 20})},
        {"vector @ matrix", gen.randn({40}), gen.randn({40, 7})},
        {"batch dims folded into rows", gen.randn({2, 3, 17, 40}), transposed(gen, {40, 9})},
        {"batched with a broadcast batch dim", gen.randn({3, 4, 17, 40}), transposed(gen, {4, 40, 9})},
        {"batched, shared out over threads", gen.randn({8, 64, 64}), transposed(gen, {8, 64, 64})},
        {"batched windows (offset, padded strides)", raw::narrow(raw::narrow(wide, 2, 1, 17), 3, 2, 40),
         raw::expand(gen.randn({1, 1, 40, 9}), {5, 3, 40, 9})},
        {"batched, stride 2 along K (copied)", raw::narrow(raw::transpose(gen.randn({2, 80, 6}), 1, 2), 2, 0, 40),
         gen.randn({2, 40, 5})},
        {"large (operands converted on two threads)", gen.randn({300, 251}), transposed(gen, {251, 70})},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      Tensor want = raw::matmul(bf16(c.a), bf16(c.b)), fp32 = raw::matmul(c.a, c.b);
      Tensor got;
      {
        GemmPrecisionGuard g(GemmPrecision::BF16);
        got = raw::matmul(c.a, c.b);
      }
      check_close(got, want, c.name);
      check_differs(got, fp32, c.name);
    }
    // The backend product with alpha and beta: only a and b are rounded, never the output's old values.
    Backend& cpu = backend_for(Device::cpu());
    Tensor a = transposed(gen, {3, 17, 40}), b = gen.randn({3, 40, 9}), init = gen.randn({3, 17, 9});
    Tensor out = raw::clone(init);
    {
      GemmPrecisionGuard g(GemmPrecision::BF16);
      cpu.matmul(out, a, b, 1.5, 0.5);
    }
    Tensor want = raw::add(raw::mul_scalar(raw::matmul(bf16(a), bf16(b)), 1.5), raw::mul_scalar(init, 0.5));
    check_close(out, want, "alpha 1.5, beta 0.5");
    // A NaN operand reaches the result (training stops on NaN losses): rounding keeps NaN a NaN.
    Tensor x = gen.randn({4, 40}), y = gen.randn({40, 3});
    x.data<float>()[41] = std::nanf("");
    GemmPrecisionGuard g(GemmPrecision::BF16);
    const std::vector<float> r = raw::matmul(x, y).to_vector<float>();
    CHECK((std::isnan(r[3]) && std::isnan(r[4]) && std::isnan(r[5]) && !std::isnan(r[0]) && !std::isnan(r[6])));
  }
}

TEST_CASE("under BF16 grouped products read their operands rounded to bf16") {
  for (bool native : bf16_paths()) {
    CAPTURE(native);
    NativeBf16 path(native);
    TwoThreads threads;
    Generator gen(32);
    const int64_t K = 64, N = 24;
    const std::vector<int64_t> rows{7, 0, 1, 130, 33, 600};  // enough work to share out over threads
    Tensor w = gen.randn({int64_t(rows.size()), N, K});
    std::vector<Tensor> as, bs, outs, want, fp32;
    auto add = [&](const Tensor& a, const Tensor& b) {
      as.push_back(a);
      bs.push_back(b);
      outs.push_back(Tensor::empty({a.size(0), b.size(1)}));
      want.push_back(raw::matmul(bf16(a), bf16(b)));
      fp32.push_back(raw::matmul(a, b));
    };
    for (size_t i = 0; i < rows.size(); ++i)  // an expert's rows times its (out, in) weight, used as (K, N)
      add(i % 2 ? transposed(gen, {rows[i], K}) : gen.randn({rows[i], K}),
          raw::transpose(raw::select(w, 0, int64_t(i)), 0, 1));
    for (size_t i = 0; i < rows.size(); ++i)  // a weight gradient g^T x: the rows are the inner dim
      if (rows[i] > 0) add(transposed(gen, {N, rows[i]}), gen.randn({rows[i], K}));
    {
      GemmPrecisionGuard g(GemmPrecision::BF16);
      moe::fused::grouped_matmul_into(outs, as, bs);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      check_close(outs[i], want[i], "grouped product " + std::to_string(i));
      if (outs[i].numel() > 0) check_differs(outs[i], fp32[i], "grouped product " + std::to_string(i));
    }
  }
}

TEST_CASE("float64 products ignore the BF16 setting") {
  Generator gen(33);
  Tensor a = gen.randn({3, 17, 40}, DType::F64), b = gen.randn({40, 9}, DType::F64);
  Tensor q = gen.randn({2, 2, 9, 5}, DType::F64), k = gen.randn({2, 2, 9, 5}, DType::F64),
         v = gen.randn({2, 2, 9, 5}, DType::F64);
  auto run = [&] {
    Tensor out = Tensor::empty({2, 2, 9, 5}, DType::F64), lse = Tensor::empty({2, 2, 9}, DType::F64);
    Tensor g = Tensor::empty({17, 9}, DType::F64);
    test::cpu_kernel(nn::fused::attention_op)(out, lse, q, k, v, 0.4);
    moe::fused::grouped_matmul_into({g}, {raw::select(a, 0, 1)}, {b});
    return std::vector<Tensor>{raw::matmul(a, b), g, out, lse};
  };
  const std::vector<Tensor> fp32 = run();
  GemmPrecisionGuard guard(GemmPrecision::BF16);
  const std::vector<Tensor> mixed = run();
  for (size_t i = 0; i < fp32.size(); ++i) CHECK(fp32[i].to_vector<double>() == mixed[i].to_vector<double>());
}

TEST_CASE("under BF16 the fused CPU attention rounds q, k, v, the probabilities and the gradients it multiplies") {
  for (bool native : bf16_paths()) {
    CAPTURE(native);
    NativeBf16 path(native);
    TwoThreads threads;
    Generator gen(34);
    const double scale = 0.35;
    struct Size {
      int64_t B, N, hd;
    };
    for (Size z : {Size{1, 12, 8}, Size{3, 12, 8}, Size{4, 64, 16}}) {  // the last shares pairs out over threads
      CAPTURE(z.B);
      const int64_t B = z.B, H = 2, N = z.N, hd = z.hd, D = H * hd;
      // Heads of a (B, N, 3D) qkv and of (B, N, D) outputs: strided views, as the attention op uses.
      auto heads = [&](const Tensor& t, int64_t parts, int64_t part) {
        return raw::select(raw::permute(raw::reshape(t, {B, N, parts, H, hd}), {2, 0, 3, 1, 4}), 0, part);
      };
      Tensor qkv = gen.randn({B, N, 3 * D}), go_buf = gen.randn({B, N, D});
      Tensor q = heads(qkv, 3, 0), k = heads(qkv, 3, 1), v = heads(qkv, 3, 2), go = heads(go_buf, 1, 0);
      Tensor out_buf = Tensor::empty({B, N, D}), lse = Tensor::empty({B, H, N}), g_buf = Tensor::empty({B, N, 3 * D});
      Tensor out = heads(out_buf, 1, 0);
      {
        GemmPrecisionGuard guard(GemmPrecision::BF16);
        test::cpu_kernel(nn::fused::attention_op)(out, lse, q, k, v, scale);
        test::cpu_kernel(nn::fused::attention_backward_op)(heads(g_buf, 3, 0), heads(g_buf, 3, 1), heads(g_buf, 3, 2),
                                                           go, q, k, v, out, lse, scale);
      }
      // By hand in FP32: every product of rounded operands, softmax and its derivative in f32.
      Tensor kt = raw::transpose(bf16(k), -1, -2);
      Tensor scores = raw::mul_scalar(raw::matmul(bf16(q), kt), scale);
      Tensor p = raw::softmax(scores, -1);
      Tensor lse_ref = raw::select(raw::sub(scores, raw::softmax(scores, -1, true)), -1, 0);
      Tensor out_ref = raw::matmul(bf16(p), bf16(v));
      Tensor gv_ref = raw::matmul(raw::transpose(bf16(p), -1, -2), bf16(go));
      Tensor gs = raw::softmax_backward(raw::matmul(bf16(go), raw::transpose(bf16(v), -1, -2)), p, -1, false);
      Tensor gq_ref = raw::mul_scalar(raw::matmul(bf16(gs), bf16(k)), scale);
      Tensor gk_ref = raw::mul_scalar(raw::matmul(raw::transpose(bf16(gs), -1, -2), bf16(q)), scale);
      check_close(lse, lse_ref, "lse");
      check_close_up_to_ties(out, out_ref, "out");
      check_close_up_to_ties(heads(g_buf, 3, 0), gq_ref, "grad q");
      check_close_up_to_ties(heads(g_buf, 3, 1), gk_ref, "grad k");
      check_close_up_to_ties(heads(g_buf, 3, 2), gv_ref, "grad v");
      // The composed default (what the CUDA backend runs) follows the setting through matmul.
      Tensor out_c = Tensor::empty({B, H, N, hd}), lse_c = Tensor::empty({B, H, N});
      {
        GemmPrecisionGuard guard(GemmPrecision::BF16);
        nn::fused::attention_reference(out_c, lse_c, q, k, v, scale);
      }
      check_close_up_to_ties(out_c, out_ref, "composed out");
      Tensor out_fp32 = Tensor::empty({B, H, N, hd});
      test::cpu_kernel(nn::fused::attention_op)(out_fp32, lse_c, q, k, v, scale);
      check_differs(out, out_fp32, "out");
    }
  }
}
