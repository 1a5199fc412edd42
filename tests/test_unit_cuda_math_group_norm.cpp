// Host-side checks of the CUDA GroupNorm kernels' math (cuda/group_norm_math.cuh, see
// test_unit_cuda_math.cpp): the group rows and the per-channel gradient rows, driven over the
// kernels' index spaces with several lane counts and compared with the CPU backend's kernels.
#include <doctest/doctest.h>

#include "cuda/group_norm_math.cuh"
#include "cuda_math_test_util.h"
#include "fused_ops.h"

using namespace cuda_math_test;

namespace {

namespace gm = promoe::cuda::gnmath;
namespace rm = promoe::cuda::rowmath;

struct GroupShape {
  int64_t B, C, S, G;
};

}  // namespace

TEST_CASE("cuda math: GroupNorm rows, their backward and the per-channel gradient rows match the CPU") {
  Generator gen(41);
  for (DType dt : {DType::F32, DType::F64})
    for (const GroupShape& s : {GroupShape{1, 4, 9, 2}, GroupShape{3, 6, 5, 3}, GroupShape{2, 8, 300, 4},
                                GroupShape{2, 3, 1, 1}, GroupShape{1, 2, 1100, 2}})
      for (int nl : {32, 256, 7}) {
        const int64_t B = s.B, C = s.C, S = s.S, G = s.G, Cg = C / G, n = Cg * S;
        Tensor x = raw::add_scalar(raw::mul_scalar(gen.randn({B, C, S}, dt), 2.0), 0.5), g = gen.randn({B, C, S}, dt);
        Tensor w = gen.randn({C}, dt), b = gen.randn({C}, dt);
        Tensor want = Tensor::empty({B, C, S}, dt), want_m = Tensor::empty({B, G}, dt),
               want_r = Tensor::empty({B, G}, dt);
        test::cpu_kernel(nn::fused::group_norm_op)(want, want_m, want_r, x, w, b, G, 1e-6);
        Tensor want_gx = Tensor::empty({B, C, S}, dt), want_gw = Tensor::empty({C}, dt),
               want_gb = Tensor::empty({C}, dt);
        test::cpu_kernel(nn::fused::group_norm_backward_op)(want_gx, want_gw, want_gb, g, x, want_m, want_r, w, G);
        const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
        const std::string what = std::string(dtype_name(dt)) + " (" + std::to_string(B) + ", " + std::to_string(C) +
                                 ", " + std::to_string(S) + ") G=" + std::to_string(G) + " lanes=" + std::to_string(nl);
        with_numeric(dt, [&](auto tag) {
          using T = decltype(tag);
          Tensor got = Tensor::empty({B, C, S}, dt), got_m = Tensor::empty({B, G}, dt),
                 got_r = Tensor::empty({B, G}, dt), got_gx = Tensor::empty({B, C, S}, dt),
                 got_gw = Tensor::empty({C}, dt), got_gb = Tensor::empty({C}, dt);
          const T *px = x.data<T>(), *pg = g.data<T>(), *pw = w.data<T>(), *pb = b.data<T>();
          for (int64_t r = 0; r < B * G; ++r) {  // group_norm_kernel and group_norm_backward_kernel on row r
            const T* xr = px + r * n;
            double sum = 0, sq = 0;
            for (int l = 0; l < nl; ++l) sum += rm::lane_sum(xr, n, l, nl);
            const double mu = sum / double(n);
            for (int l = 0; l < nl; ++l) sq += rm::lane_sq_dev(xr, n, mu, l, nl);
            const double inv = rm::layer_norm_rstd(sq, n, 1e-6);
            got_m.data<T>()[r] = T(mu);
            got_r.data<T>()[r] = T(inv);
            const int64_t c0 = (r % G) * Cg;
            for (int l = 0; l < nl; ++l)
              gm::group_norm_apply(got.data<T>() + r * n, xr, pw, pb, n, S, c0, mu, inv, l, nl);
            const double m0 = want_m.data<T>()[r], r0 = want_r.data<T>()[r];
            double sh = 0, shx = 0;
            for (int l = 0; l < nl; ++l) {
              double a, c;
              gm::lane_group_grad_sums(xr, pg + r * n, pw, n, S, c0, m0, r0, l, nl, &a, &c);
              sh += a;
              shx += c;
            }
            for (int l = 0; l < nl; ++l)
              gm::group_grad_apply(got_gx.data<T>() + r * n, xr, pg + r * n, pw, n, S, c0, m0, r0, sh / double(n),
                                   shx / double(n), l, nl);
          }
          for (int64_t c = 0; c < C; ++c) {  // group_norm_channel_kernel on row c
            double sgx = 0, sg = 0;
            for (int l = 0; l < nl; ++l) {
              double a, e;
              gm::lane_channel_sums(pg, px, want_m.data<T>(), want_r.data<T>(), c, B, C, S, G, l, nl, &a, &e);
              sgx += a;
              sg += e;
            }
            got_gw.data<T>()[c] = T(sgx);
            got_gb.data<T>()[c] = T(sg);
          }
          check_close(got, want, tol, tol, "group_norm " + what);
          check_close(got_m, want_m, tol, tol, "group_norm mean " + what);
          check_close(got_r, want_r, tol, tol, "group_norm rstd " + what);
          check_close(got_gx, want_gx, tol, tol * 10, "group_norm grad_x " + what);
          const double sum_tol = dt == DType::F32 ? 2e-6 * double(B * S + 10) : 1e-11;
          check_close(got_gw, want_gw, tol, sum_tol, "group_norm grad_weight " + what);
          check_close(got_gb, want_gb, tol, sum_tol, "group_norm grad_bias " + what);
        });
      }
}
