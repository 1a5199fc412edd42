// Host-side checks of the CUDA fused attention's math (cuda/attention_math.cuh): the forward, D,
// dQ and dK/dV kernels of cuda/attention.cu emulated block by block, and thread by thread between
// their barriers, over the same tiles and loop order, compared with the CPU backend's attention on
// head-split views of a (B, N, 3D) buffer. Shared memory starts as NaN in every block, so a read of
// a tile element no thread wrote shows up in the results.
#include <doctest/doctest.h>

#include <type_traits>

#include "cuda/attention_math.cuh"
#include "cuda_math_test_util.h"
#include "fused_ops.h"
#include "tensor/precision.h"

using namespace cuda_math_test;

namespace {

namespace am = promoe::cuda::attnmath;

am::Heads heads_of(const Tensor& t) { return {t.data<float>(), t.stride(0), t.stride(1), t.stride(2)}; }

// What the kernels are told (cuda/attention.cu dims_of) and how many blocks they run.
am::Dims dims_of(const Tensor& q, float scale, bool bf16) {
  return {int(q.size(1)), int(q.size(2)), int(q.size(3)), am::row_tiles(q.size(2)), scale, bf16};
}
int64_t blocks_of(const Tensor& q) { return q.size(0) * q.size(1) * am::row_tiles(q.size(2)); }

constexpr int R = am::kRows;

template <int HDP>
constexpr int own = am::own_ld<HDP>;

void fill_nan(std::vector<float>& smem) { std::fill(smem.begin(), smem.end(), std::nanf("")); }

double max_abs(const Tensor& t) {
  double m = 0;
  for (double x : t.to_vector<double>()) m = std::max(m, std::abs(x));
  return m;
}

// attention_forward_kernel.
template <int HDP>
void emulate_forward(const Tensor& out, float* lse, const Tensor& q, const Tensor& k, const Tensor& v,
                     const am::Dims& n) {
  const am::Heads Q = heads_of(q), K = heads_of(k), V = heads_of(v), O = heads_of(out);
  std::vector<float> smem(am::ForwardSmem<HDP>::floats);
  const am::ForwardSmem<HDP> sm(smem.data());
  for (int64_t b = 0; b < blocks_of(q); ++b) {
    const am::Block blk = am::block_of(b, n.tiles);
    fill_nan(smem);
    std::vector<float> m(R, -INFINITY), l(R, 0.f), acc(size_t(R) * HDP, 0.f);
    for (int t = 0; t < R; ++t) am::load_own<HDP>(sm.q, Q, blk, n, t);
    for (int key0 = 0; key0 < n.N; key0 += am::kKeyTile) {
      for (int t = 0; t < R; ++t) {
        am::load_streamed<HDP>(sm.k, am::kKeyTile, K, blk.pair, key0, n, t);
        am::load_streamed<HDP>(sm.v, am::kKeyTile, V, blk.pair, key0, n, t);
      }
      for (int t = 0; t < R; ++t)
        am::forward_tile<HDP>(m[t], l[t], &acc[size_t(t) * HDP], sm.q + t * own<HDP>, sm.k, sm.v, n.scale,
                              std::min(am::kKeyTile, n.N - key0), n.bf16);
    }
    for (int t = 0; t < R; ++t) {
      const float row_lse = am::finish_row<HDP>(sm.q + t * own<HDP>, &acc[size_t(t) * HDP], m[t], l[t]);
      if (blk.row0 + t < n.N) lse[blk.pair * n.N + blk.row0 + t] = row_lse;
    }
    for (int t = 0; t < R; ++t) am::store_own<HDP>(O, sm.q, blk, n, t);
  }
}

// attention_rowdot_kernel, then attention_dq_kernel and attention_dkv_kernel.
template <int HDP>
void emulate_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go, const Tensor& q,
                      const Tensor& k, const Tensor& v, const Tensor& out, const float* lse, const am::Dims& n) {
  const am::Heads GQ = heads_of(gq), GK = heads_of(gk), GV = heads_of(gv), GO = heads_of(go), Q = heads_of(q),
                  K = heads_of(k), V = heads_of(v), O = heads_of(out);
  std::vector<float> d(size_t(q.size(0) * n.H * n.N));
  for (int64_t r = 0; r < int64_t(d.size()); ++r) {
    const int64_t pair = r / n.N, i = r % n.N;
    d[r] = am::row_dot(am::head_of(GO, pair, n.H) + i * GO.sn, am::head_of(O, pair, n.H) + i * O.sn, n.hd, n.bf16);
  }

  std::vector<float> smem(am::DqSmem<HDP>::floats);
  const am::DqSmem<HDP> sq(smem.data());
  for (int64_t b = 0; b < blocks_of(q); ++b) {
    const am::Block blk = am::block_of(b, n.tiles);
    fill_nan(smem);
    std::vector<float> dq(size_t(R) * HDP, 0.f);
    for (int t = 0; t < R; ++t) {
      am::load_own<HDP>(sq.q, Q, blk, n, t);
      am::load_own<HDP>(sq.go, GO, blk, n, t);
    }
    for (int key0 = 0; key0 < n.N; key0 += am::kBackTile) {
      for (int t = 0; t < R; ++t) {
        am::load_streamed<HDP>(sq.k, am::kBackTile, K, blk.pair, key0, n, t);
        am::load_streamed<HDP>(sq.v, am::kBackTile, V, blk.pair, key0, n, t);
      }
      for (int t = 0; t < R; ++t) {
        const int i = blk.row0 + t;
        const float row_lse = i < n.N ? lse[blk.pair * n.N + i] : 0.f, row_d = i < n.N ? d[blk.pair * n.N + i] : 0.f;
        am::dq_tile<HDP>(&dq[size_t(t) * HDP], sq.q + t * own<HDP>, sq.go + t * own<HDP>, sq.k, sq.v, row_lse, row_d,
                         n.scale, std::min(am::kBackTile, n.N - key0), n.bf16);
      }
    }
    for (int t = 0; t < R; ++t) am::scaled_row<HDP>(sq.q + t * own<HDP>, &dq[size_t(t) * HDP], n.scale);
    for (int t = 0; t < R; ++t) am::store_own<HDP>(GQ, sq.q, blk, n, t);
  }

  std::vector<float> smem_kv(am::DkvSmem<HDP>::floats);
  const am::DkvSmem<HDP> sk(smem_kv.data());
  for (int64_t b = 0; b < blocks_of(q); ++b) {
    const am::Block blk = am::block_of(b, n.tiles);
    fill_nan(smem_kv);
    std::vector<float> dk(size_t(R) * HDP, 0.f), dv(size_t(R) * HDP, 0.f);
    for (int t = 0; t < R; ++t) {
      am::load_own<HDP>(sk.k, K, blk, n, t);
      am::load_own<HDP>(sk.v, V, blk, n, t);
    }
    for (int q0 = 0; q0 < n.N; q0 += am::kBackTile) {
      for (int t = 0; t < R; ++t) {
        am::load_streamed<HDP>(sk.q, am::kBackTile, Q, blk.pair, q0, n, t);
        am::load_streamed<HDP>(sk.go, am::kBackTile, GO, blk.pair, q0, n, t);
        am::load_row_stats(sk.lse, sk.d, lse + blk.pair * n.N, d.data() + blk.pair * n.N, q0, n.N, t, R);
      }
      for (int t = 0; t < R; ++t)
        am::dkv_tile<HDP>(&dk[size_t(t) * HDP], &dv[size_t(t) * HDP], sk.k + t * own<HDP>, sk.v + t * own<HDP>, sk.q,
                          sk.go, sk.lse, sk.d, n.scale, n.bf16);
    }
    for (int t = 0; t < R; ++t) {
      am::scaled_row<HDP>(sk.k + t * own<HDP>, &dk[size_t(t) * HDP], n.scale);
      am::scaled_row<HDP>(sk.v + t * own<HDP>, &dv[size_t(t) * HDP], 1.f);
    }
    for (int t = 0; t < R; ++t) {
      am::store_own<HDP>(GK, sk.k, blk, n, t);
      am::store_own<HDP>(GV, sk.v, blk, n, t);
    }
  }
}

template <typename F>
void with_padded(int64_t hd, F f) {
  switch (am::padded_head_dim(hd)) {
    case 32:
      f(std::integral_constant<int, 32>{});
      break;
    case 64:
      f(std::integral_constant<int, 64>{});
      break;
    case 72:
      f(std::integral_constant<int, 72>{});
      break;
    default:
      FAIL("head dim " << hd << " is not fused");
  }
}

}  // namespace

TEST_CASE("cuda math: attention head dims up to 72 are padded to a fused kernel's, and tiles fit 48 KiB") {
  CHECK(am::padded_head_dim(1) == 32);
  CHECK(am::padded_head_dim(32) == 32);
  CHECK(am::padded_head_dim(33) == 64);
  CHECK(am::padded_head_dim(64) == 64);
  CHECK(am::padded_head_dim(65) == 72);
  CHECK(am::padded_head_dim(72) == 72);
  CHECK(am::padded_head_dim(73) == 0);
  CHECK(am::padded_head_dim(128) == 0);
  const size_t limit = 48 * 1024;
  CHECK(sizeof(float) * am::ForwardSmem<72>::floats <= limit);
  CHECK(sizeof(float) * am::DqSmem<72>::floats <= limit);
  CHECK(sizeof(float) * am::DkvSmem<72>::floats <= limit);
  float base[am::DkvSmem<72>::floats];
  const am::ForwardSmem<72> f(base);
  const am::DqSmem<72> q(base);
  const am::DkvSmem<72> k(base);
  for (const float* p : {f.k, f.v, q.k, q.v, k.q, k.go}) CHECK((p - base) % 4 == 0);  // 16-byte aligned streamed tiles
  CHECK(k.v + R * own<72> == base + am::DkvSmem<72>::floats);
  CHECK(q.go + R * own<72> == base + am::DqSmem<72>::floats);
  CHECK(f.q + R * own<72> == base + am::ForwardSmem<72>::floats);
  CHECK(am::row_tiles(1) == 1);
  CHECK(am::row_tiles(64) == 1);
  CHECK(am::row_tiles(65) == 2);
}

TEST_CASE("cuda math: flash attention forward and backward over the kernels' tiles match the CPU") {
  Generator gen(31);
  struct Case {
    int64_t B, H, N, hd;
    double scale, shift = 0;  // q + shift, k - shift
  };
  // N = 77: a partial row tile and partial key tiles; N = 130: three row tiles; scale 0.6: peaky
  // rows whose max moves between key tiles; hd 40 and 20: padded to 64 and 32; shift 4: every score
  // near -130, so exp(-lse) overflows f32 (the masks of padded keys).
  const Case cases[] = {{2, 3, 77, 64, 0.125}, {2, 3, 77, 72, 1 / std::sqrt(72.0)},
                        {1, 2, 130, 72, 0.6},  {3, 1, 1, 64, 0.125},
                        {1, 2, 16, 72, 0.2},   {2, 2, 45, 40, 0.3},
                        {1, 3, 33, 20, 0.5},   {2, 2, 77, 64, 0.125, 4.0}};
  for (const Case& c : cases)
    for (bool bf16 : {false, true}) {
      const int64_t B = c.B, H = c.H, N = c.N, hd = c.hd, D = H * hd;
      const std::string what = "B=" + std::to_string(B) + " H=" + std::to_string(H) + " N=" + std::to_string(N) +
                               " hd=" + std::to_string(hd) + (bf16 ? " bf16" : "");
      CAPTURE(what);
      // Heads of a (B, N, 3D) qkv and of (B, N, D + 3) outputs whose last 3 columns no head owns.
      auto heads = [&](const Tensor& t, int64_t parts, int64_t part) {
        Tensor r = raw::permute(raw::reshape(raw::narrow(t, 2, 0, parts * D), {B, N, parts, H, hd}), {2, 0, 3, 1, 4});
        return raw::select(r, 0, part);
      };
      Tensor qkv = raw::mul_scalar(gen.randn({B, N, 3 * D}), 1.5), go_buf = gen.randn({B, N, D});
      Tensor q = heads(qkv, 3, 0), k = heads(qkv, 3, 1), v = heads(qkv, 3, 2), go = heads(go_buf, 1, 0);
      raw::copy_(q, raw::add_scalar(q, c.shift));
      raw::copy_(k, raw::add_scalar(k, -c.shift));
      Tensor out_want = raw::full({B, N, D + 3}, 7.0), lse_want = Tensor::empty({B, H, N});
      Tensor g_want = Tensor::empty({B, N, 3 * D}), o = heads(out_want, 1, 0);
      {
        GemmPrecisionGuard guard(bf16 ? GemmPrecision::BF16 : GemmPrecision::FP32);
        test::cpu_kernel(nn::fused::attention_op)(o, lse_want, q, k, v, c.scale);
        test::cpu_kernel(nn::fused::attention_backward_op)(heads(g_want, 3, 0), heads(g_want, 3, 1),
                                                           heads(g_want, 3, 2), go, q, k, v, o, lse_want, c.scale);
      }
      const am::Dims n = dims_of(q, float(c.scale), bf16);
      // Tolerances relative to the largest element. Under bf16 the kernels round exp(s - m) where the
      // CPU rounds p, and take D from out (cuda/attention_math.cuh): out and dS differ by bf16 noise,
      // as much as either differs from fp32; dV rounds the same operands as the CPU (up to a rare p
      // whose last f32 bit decides its bf16 rounding), well within its 5e-3 distance from fp32.
      const double out_tol = bf16 ? 4e-3 : 1e-5, qk_tol = bf16 ? 1.5e-2 : 2e-5, v_tol = bf16 ? 2e-4 : 2e-5;
      with_padded(hd, [&](auto hdp) {
        constexpr int HDP = decltype(hdp)::value;
        Tensor out = raw::full({B, N, D + 3}, 7.0), lse = raw::full({B, H, N}, std::nan(""));
        emulate_forward<HDP>(heads(out, 1, 0), lse.data<float>(), q, k, v, n);
        check_close(out, out_want, 1e-5, out_tol * max_abs(o), "attention out " + what);  // spare columns stay 7
        check_close(lse, lse_want, 1e-5, 1e-5, "attention lse " + what);

        // Backward from the CPU's out and lse.
        Tensor g = raw::full({B, N, 3 * D}, std::nan(""));
        emulate_backward<HDP>(heads(g, 3, 0), heads(g, 3, 1), heads(g, 3, 2), go, q, k, v, o, lse_want.data<float>(),
                              n);
        const double g_max = max_abs(g_want);
        check_close(heads(g, 3, 0), heads(g_want, 3, 0), 1e-4, qk_tol * g_max, "attention grad q " + what);
        check_close(heads(g, 3, 1), heads(g_want, 3, 1), 1e-4, qk_tol * g_max, "attention grad k " + what);
        check_close(heads(g, 3, 2), heads(g_want, 3, 2), 1e-4, v_tol * g_max, "attention grad v " + what);
      });
    }
}
