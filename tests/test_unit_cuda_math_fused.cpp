// Host-side checks of the CUDA fused kernels' math (see test_unit_cuda_math.cpp): LayerNorm +
// modulation, the gated residual, bias + GELU, their deterministic column sums
// (cuda/colsum_math.cuh) and the multi-tensor sum of squares, driven over the kernels' index
// spaces and compared with the CPU backend's fused kernels.
#include <doctest/doctest.h>

#include <array>

#include "cuda/adaln_math.cuh"
#include "cuda/bias_gelu_math.cuh"
#include "cuda/colsum_math.cuh"
#include "cuda_math_test_util.h"
#include "fused_ops.h"

using namespace cuda_math_test;

namespace {

namespace cm = promoe::cuda::colmath;
namespace am = promoe::cuda::adamath;
namespace rm = promoe::cuda::rowmath;

// cuda/colsum.cuh's two passes: work items over row chunks, then the partials of each column in order.
template <int K, typename T, typename F>
void emulate_col_sums(const F& term, int64_t B, int64_t N, int64_t D, cm::Split s, std::array<T*, K> out) {
  const int64_t items = B * s.parts * D;
  std::vector<double> partial(size_t(K * items));
  for (int64_t w = 0; w < items; ++w) {
    double acc[K];
    cm::item_sums<K>(term, w, N, D, s, acc);
    for (int k = 0; k < K; ++k) {
      if (s.parts == 1)
        out[k][w] = T(acc[k]);
      else
        partial[k * items + w] = acc[k];
    }
  }
  if (s.parts > 1)
    for (int64_t o = 0; o < B * D; ++o)
      for (int k = 0; k < K; ++k) out[k][o] = T(cm::combine_parts(partial.data() + k * items, o, D, s.parts));
}

// The plan's split and a forced three-way one.
std::vector<cm::Split> splits_for(int64_t B, int64_t N, int64_t D) {
  return {cm::split_for(B, N, D), {3, (N + 2) / 3}};
}

// modulate_kernel on row r, its nl lanes' partial sums combined in lane order.
template <typename T>
void emulate_modulate_row(T* y, T* mean, T* rstd, const T* x, const T* shift, const T* scale, int64_t D, double eps,
                          int nl) {
  double s = 0, sq = 0;
  for (int l = 0; l < nl; ++l) s += rm::lane_sum(x, D, l, nl);
  const double mu = s / double(D);
  for (int l = 0; l < nl; ++l) sq += rm::lane_sq_dev(x, D, mu, l, nl);
  const double inv = rm::layer_norm_rstd(sq, D, eps);
  *mean = T(mu);
  *rstd = T(inv);
  for (int l = 0; l < nl; ++l) am::modulate_apply(y, x, shift, scale, D, mu, inv, l, nl);
}

template <typename T>
void emulate_modulate_backward_row(T* gx, const T* g, const T* x, T mean, T rstd, const T* scale, int64_t D, int nl) {
  double sh = 0, shx = 0;
  for (int l = 0; l < nl; ++l) {
    double a, b;
    am::lane_modulate_grad_sums(x, g, scale, D, double(mean), double(rstd), l, nl, &a, &b);
    sh += a;
    shx += b;
  }
  for (int l = 0; l < nl; ++l)
    am::modulate_grad_apply(gx, x, g, scale, D, double(mean), double(rstd), sh / double(D), shx / double(D), l, nl);
}

// Tolerance of a sum over n terms of size ~1: the CPU adds in the element type.
double sum_tol(DType dt, int64_t n) { return dt == DType::F32 ? 2e-6 * double(n + 10) : 1e-12; }

struct Bnd {
  int64_t B, N, D;
};
const Bnd kShapes[] = {{1, 5, 130}, {3, 7, 33}, {2, 70, 1100}, {1, 300, 3}, {4, 1, 7}};

std::string shape_name(DType dt, const Bnd& s) {
  return std::string(dtype_name(dt)) + " (" + std::to_string(s.B) + ", " + std::to_string(s.N) + ", " +
         std::to_string(s.D) + ")";
}

}  // namespace

TEST_CASE("cuda math: the column-sum split covers every row once and fills a GPU only when it must") {
  for (int64_t B : {1, 4, 64})
    for (int64_t N : {0, 1, 31, 33, 256, 100000})
      for (int64_t D : {1, 130, 1152}) {
        const cm::Split s = cm::split_for(B, N, D);
        CAPTURE(B);
        CAPTURE(N);
        CAPTURE(D);
        CHECK(s.parts >= 1);
        CHECK(s.chunk >= 1);
        CHECK(s.parts * s.chunk >= N);
        CHECK((s.parts - 1) * s.chunk < std::max<int64_t>(N, 1));  // no empty part
        if (s.parts > 1) CHECK(s.chunk >= 16);
      }
  CHECK(cm::split_for(64, 256, 1152).parts == 1);  // 73k columns already fill a GPU
  CHECK(cm::split_for(1, 4096, 384).parts > 1);
}

TEST_CASE("cuda math: LayerNorm + modulation rows and their backward with column sums match the CPU") {
  Generator gen(21);
  for (DType dt : {DType::F32, DType::F64})
    for (const Bnd& s : kShapes)
      for (int nl : {32, 256, 7}) {
        const int64_t B = s.B, N = s.N, D = s.D, rows = B * N;
        Tensor x = raw::add_scalar(raw::mul_scalar(gen.randn({B, N, D}, dt), 2.0), 1.0), g = gen.randn({B, N, D}, dt);
        Tensor shift = gen.randn({B, D}, dt), scale = raw::mul_scalar(gen.randn({B, D}, dt), 0.5);
        Tensor want = Tensor::empty({B, N, D}, dt), want_m = Tensor::empty({B, N}, dt),
               want_r = Tensor::empty({B, N}, dt);
        test::cpu_kernel(nn::fused::layer_norm_modulate_op)(want, want_m, want_r, x, shift, scale, 1e-6);
        Tensor want_gx = Tensor::empty({B, N, D}, dt), want_gsh = Tensor::empty({B, D}, dt),
               want_gsc = Tensor::empty({B, D}, dt);
        test::cpu_kernel(nn::fused::layer_norm_modulate_backward_op)(want_gx, want_gsh, want_gsc, g, x, want_m, want_r,
                                                                     scale);
        const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
        const std::string what = shape_name(dt, s) + " lanes=" + std::to_string(nl);
        with_numeric(dt, [&](auto tag) {
          using T = decltype(tag);
          Tensor got = Tensor::empty({B, N, D}, dt), got_m = Tensor::empty({B, N}, dt),
                 got_r = Tensor::empty({B, N}, dt);
          Tensor got_gx = Tensor::empty({B, N, D}, dt);
          const T *px = x.data<T>(), *pg = g.data<T>(), *psh = shift.data<T>(), *psc = scale.data<T>();
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t b = r / N;
            emulate_modulate_row(got.data<T>() + r * D, got_m.data<T>() + r, got_r.data<T>() + r, px + r * D,
                                 psh + b * D, psc + b * D, D, 1e-6, nl);
            emulate_modulate_backward_row(got_gx.data<T>() + r * D, pg + r * D, px + r * D, want_m.data<T>()[r],
                                          want_r.data<T>()[r], psc + b * D, D, nl);
          }
          check_close(got, want, tol, tol, "layer_norm_modulate " + what);
          check_close(got_m, want_m, tol, tol, "layer_norm_modulate mean " + what);
          check_close(got_r, want_r, tol, tol, "layer_norm_modulate rstd " + what);
          check_close(got_gx, want_gx, tol, tol * 10, "layer_norm_modulate grad_x " + what);
          if (nl != 32) return;  // the column sums do not depend on the lanes
          const am::ModulateTerms<T> terms{pg, px, want_m.data<T>(), want_r.data<T>(), N, D};
          for (const cm::Split sp : splits_for(B, N, D)) {
            Tensor gsh = Tensor::empty({B, D}, dt), gsc = Tensor::empty({B, D}, dt);
            emulate_col_sums<2, T>(terms, B, N, D, sp, {gsh.data<T>(), gsc.data<T>()});
            const std::string parts = " parts=" + std::to_string(sp.parts);
            check_close(gsh, want_gsh, tol, sum_tol(dt, N), "grad_shift " + what + parts);
            check_close(gsc, want_gsc, tol, sum_tol(dt, N), "grad_scale " + what + parts);
          }
        });
      }
}

TEST_CASE("cuda math: the gated residual and its backward with column sums match the CPU") {
  Generator gen(22);
  for (DType dt : {DType::F32, DType::F64})
    for (const Bnd& s : kShapes) {
      const int64_t B = s.B, N = s.N, D = s.D;
      Tensor x = gen.randn({B, N, D}, dt), y = gen.randn({B, N, D}, dt), g = gen.randn({B, N, D}, dt);
      Tensor gate = gen.randn({B, D}, dt);
      Tensor want = Tensor::empty({B, N, D}, dt), want_gy = Tensor::empty({B, N, D}, dt),
             want_gg = Tensor::empty({B, D}, dt);
      test::cpu_kernel(nn::fused::gated_add_op)(want, x, gate, y);
      test::cpu_kernel(nn::fused::gated_add_backward_op)(want_gy, want_gg, g, y, gate);
      const std::string what = shape_name(dt, s);
      with_numeric(dt, [&](auto tag) {
        using T = decltype(tag);
        Tensor got = Tensor::empty({B, N, D}, dt);
        for (int64_t i = 0; i < got.numel(); ++i)
          got.data<T>()[i] = am::gated_add_at(x.data<T>(), gate.data<T>(), y.data<T>(), i, N, D);
        check_close(got, want, rtol_for(dt), rtol_for(dt), "gated_add " + what);
        for (const cm::Split sp : splits_for(B, N, D)) {
          Tensor gy = Tensor::empty({B, N, D}, dt), gg = Tensor::empty({B, D}, dt);
          const am::GatedTerms<T> terms{g.data<T>(), y.data<T>(), gate.data<T>(), gy.data<T>(), N, D};
          emulate_col_sums<1, T>(terms, B, N, D, sp, {gg.data<T>()});
          const std::string parts = " parts=" + std::to_string(sp.parts);
          check_close(gy, want_gy, rtol_for(dt), 0, "gated_add grad_y " + what + parts);
          check_close(gg, want_gg, rtol_for(dt), sum_tol(dt, N), "gated_add grad_gate " + what + parts);
        }
      });
    }
}

TEST_CASE("cuda math: bias + GELU and its backward with the bias column sums match the CPU") {
  Generator gen(23);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t rows : {1, 5, 300})
      for (int64_t n : {1, 33, 130}) {
        Tensor pre0 = raw::mul_scalar(gen.randn({rows, n}, dt), 2.0), bias = gen.randn({n}, dt),
               g = gen.randn({rows, n}, dt);
        Tensor want_pre = raw::clone(pre0), want = Tensor::empty({rows, n}, dt);
        test::cpu_kernel(nn::fused::bias_gelu_op)(want, want_pre, bias);
        Tensor want_gp = Tensor::empty({rows, n}, dt), want_gb = Tensor::empty({n}, dt);
        test::cpu_kernel(nn::fused::bias_gelu_backward_op)(want_gp, want_gb, g, want_pre);
        const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
        const std::string what =
            std::string(dtype_name(dt)) + " rows=" + std::to_string(rows) + " n=" + std::to_string(n);
        with_numeric(dt, [&](auto tag) {
          using T = decltype(tag);
          Tensor pre = raw::clone(pre0), got = Tensor::empty({rows, n}, dt);
          for (int64_t i = 0; i < pre.numel(); ++i)
            got.data<T>()[i] = pc::gelumath::bias_gelu_at(pre.data<T>(), bias.data<T>(), i, n);
          check_close(pre, want_pre, rtol_for(dt), 0, "bias_gelu pre " + what);
          check_close(got, want, tol, tol, "bias_gelu " + what);
          for (const cm::Split sp : splits_for(1, rows, n)) {
            Tensor gp = Tensor::empty({rows, n}, dt), gb = Tensor::empty({n}, dt);
            const pc::gelumath::BiasGeluTerms<T> terms{g.data<T>(), want_pre.data<T>(), gp.data<T>(), n};
            emulate_col_sums<1, T>(terms, 1, rows, n, sp, {gb.data<T>()});
            const std::string parts = " parts=" + std::to_string(sp.parts);
            check_close(gp, want_gp, tol, tol, "bias_gelu grad_pre " + what + parts);
            check_close(gb, want_gb, tol, sum_tol(dt, rows), "bias_gelu grad_bias " + what + parts);
          }
        });
      }
}

TEST_CASE("cuda math: the sum of squares of many tensors, by blocks and batches, matches the CPU") {
  Generator gen(24);
  std::vector<Tensor> ts;
  for (int i = 0; i < 150; ++i)  // more tensors than one launch takes, of both float types
    ts.push_back(gen.randn({1 + 37 * (i % 7), 3}, i % 3 ? DType::F32 : DType::F64));
  ts.push_back(gen.randn({(int64_t(1) << 21) + 5}));  // more blocks than a tensor may have
  ts.push_back(raw::zeros({0}));
  const int block = 256;
  const pc::rmath::SqPlan p = pc::rmath::sq_plan(ts, block);
  REQUIRE(p.batches.size() == 3);
  std::vector<double> slots(size_t(p.slots), std::nan(""));
  for (const pc::rmath::SqBatch& b : p.batches) {
    CHECK(b.count <= pc::rmath::kSqBatch);
    for (int t = 0; t < b.count; ++t) {
      CHECK(b.blocks[t] <= 1024);
      CHECK(b.blocks[t] <= b.max_blocks);
      for (int k = 0; k < b.blocks[t]; ++k) {  // sum_sq_kernel's block (k, t), thread by thread
        double total = 0;
        for (int j = 0; j < block; ++j) {
          const int64_t first = int64_t(k) * block + j, step = int64_t(b.blocks[t]) * block;
          total += b.f64[t] ? pc::rmath::thread_sum_sq(static_cast<const double*>(b.data[t]), b.n[t], first, step)
                            : pc::rmath::thread_sum_sq(static_cast<const float*>(b.data[t]), b.n[t], first, step);
        }
        slots[size_t(b.first[t] + k)] = total;
      }
    }
  }
  double got = 0;
  for (double s : slots) got += s;  // NaN if a slot was never written
  const double want = test::cpu_kernel(nn::fused::sum_of_squares_op)(ts);
  CHECK(got == doctest::Approx(want).epsilon(1e-12));
  CHECK(pc::rmath::sq_plan({raw::zeros({0})}, block).slots == 0);
}
