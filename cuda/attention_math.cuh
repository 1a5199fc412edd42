// Math of the fused flash-style attention kernels (cuda/attention.cu), host-testable: the tile
// geometry, the cooperative copies between a head's rows and a shared-memory tile, and what one
// thread does with one streamed tile (its scores, the online softmax, the probabilities rebuilt
// from the log-sum-exp, the softmax derivative, the products accumulated into its row).
//
// Every kernel gives each of its kRows threads one "own" row of the head (a query in forward and
// dQ, a key in dK/dV) whose accumulators stay in registers, and streams the other side's rows
// through shared memory in tiles of kKeyTile (forward) or kBackTile (backward) rows. Head dims are
// padded with zeros to HDP in {32, 64, 72} so that every loop has a compile-time trip count and
// unrolls into registers; padded rows and columns are zeros and masked where they would count.
// Sums run in a fixed order with fmaf, so runs repeat bit for bit (no atomics anywhere).
//
// Under GemmPrecision::BF16 (tensor/precision.h, flag `bf16`) every product reads its operands
// rounded to bf16 as the CPU's fused attention does: q, k, v and go as their tiles are loaded, the
// probabilities before P v and P^T go, dS before dS k and dS^T q; softmax statistics and dS itself
// use the f32 values. Two differences from the CPU remain, both of bf16 size: forward rounds the
// unnormalised exp(s - m) before P v (the CPU rounds the normalised p), and D = rowsum(go * out)
// comes from out where the CPU sums p * dP over the keys.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"

// Loops over a thread's own arrays (scores, accumulators) unroll fully so that they stay in
// registers; the head-dim loop of the dot products unrolls by 4 only: enough for 16-byte shared
// loads, and fully unrolled it let the compiler hoist so many loads that dK/dV spilled.
#if defined(__CUDA_ARCH__)
#define PROMOE_ATTN_UNROLL _Pragma("unroll")
#define PROMOE_ATTN_UNROLL_4 _Pragma("unroll 4")
#else
#define PROMOE_ATTN_UNROLL
#define PROMOE_ATTN_UNROLL_4
#endif

namespace promoe::cuda::attnmath {

constexpr int kRows = 64;      // threads per block, one own row each
constexpr int kKeyTile = 32;   // keys per streamed tile in forward
constexpr int kBackTile = 16;  // rows per streamed tile in backward: two HDP accumulators per thread in dK/dV
                               // leave fewer registers, and every kernel's tiles stay within 48 KiB

// x as a product reads it: rounded to bf16 (ties to even) under `bf16`, else itself.
PROMOE_HD inline float operand(float x, bool bf16) { return bf16 ? bf16_to_f32(f32_to_bf16(x)) : x; }

// The padded head dim of a fused kernel for head dim hd, or 0 where attention is not fused.
PROMOE_HD inline int padded_head_dim(int64_t hd) { return hd <= 32 ? 32 : hd <= 64 ? 64 : hd <= 72 ? 72 : 0; }

// Own tiles are kRows x own_ld: an odd row length, so the 32 threads of a warp, each reading its
// own row at the same column, hit 32 different banks. Streamed tiles are rows x HDP, read by all
// threads at the same address (a broadcast), 16-byte aligned for vector loads.
template <int HDP>
constexpr int own_ld = HDP + 1;

// A (B, H, N, hd) view whose rows have unit stride: the element (b, h, n, d) is at
// p[b * sb + h * sh + n * sn + d].
struct Heads {
  float* p;
  int64_t sb, sh, sn;
};

// What every kernel is told besides its tensors.
struct Dims {
  int H, N, hd;  // heads, sequence length, head dim
  int tiles;     // row_tiles(N): blocks per head
  float scale;   // of the scores q . k
  bool bf16;     // products read bf16-rounded operands
};

// Row 0 of head `pair` = b * H + h.
PROMOE_HD inline float* head_of(const Heads& v, int64_t pair, int64_t H) {
  return v.p + (pair / H) * v.sb + (pair % H) * v.sh;
}

// Blocks are numbered pair * row_tiles(N) + tile, so the blocks of one head run side by side and
// share its streamed rows in L2.
PROMOE_HD inline int row_tiles(int64_t N) { return int((N + kRows - 1) / kRows); }

struct Block {
  int64_t pair;
  int row0;  // first own row
};

PROMOE_HD inline Block block_of(int64_t blk, int tiles) { return {blk / tiles, int(blk % tiles) * kRows}; }

// Shared-memory layouts (floats), streamed tiles first for their alignment.
template <int HDP>
struct ForwardSmem {
  static constexpr int floats = 2 * kKeyTile * HDP + kRows * own_ld<HDP>;
  float *k, *v, *q;  // k, v: kKeyTile x HDP; q: own
  PROMOE_HD explicit ForwardSmem(float* s) : k(s), v(s + kKeyTile * HDP), q(s + 2 * kKeyTile * HDP) {}
};

template <int HDP>
struct DqSmem {
  static constexpr int floats = 2 * kBackTile * HDP + 2 * kRows * own_ld<HDP>;
  float *k, *v, *q, *go;  // k, v: kBackTile x HDP; q, go: own
  PROMOE_HD explicit DqSmem(float* s)
      : k(s), v(s + kBackTile * HDP), q(s + 2 * kBackTile * HDP), go(q + kRows * own_ld<HDP>) {}
};

template <int HDP>
struct DkvSmem {
  static constexpr int floats = 2 * kBackTile * HDP + 2 * kBackTile + 2 * kRows * own_ld<HDP>;
  float *q, *go, *lse, *d, *k, *v;  // q, go: kBackTile x HDP; lse, d: kBackTile; k, v: own
  PROMOE_HD explicit DkvSmem(float* s)
      : q(s),
        go(s + kBackTile * HDP),
        lse(s + 2 * kBackTile * HDP),
        d(lse + kBackTile),
        k(d + kBackTile),
        v(k + kRows * own_ld<HDP>) {}
};

// Cooperative copy of the head's rows [row0, row0 + R) (hd columns, rows `sn` apart) into a tile of
// R rows `ld` apart and HDP columns; rows past N and columns past hd become 0. Thread t of nt copies
// the tile's elements t, t + nt, ... in row-major order, so neighbouring threads read neighbouring
// columns of global memory. Every tile is a product operand: rounded under bf16.
template <int HDP>
PROMOE_HD inline void load_tile(float* tile, int ld, int R, const float* head, int64_t sn, int row0, int N, int hd,
                                bool bf16, int t, int nt) {
  for (int e = t; e < R * HDP; e += nt) {
    const int r = e / HDP, d = e % HDP;
    tile[r * ld + d] = row0 + r < N && d < hd ? operand(head[int64_t(row0 + r) * sn + d], bf16) : 0.f;
  }
}

// The reverse for an own tile: its rows below N and columns below hd go to the head's rows.
template <int HDP>
PROMOE_HD inline void store_tile(float* head, int64_t sn, int row0, int N, int hd, const float* tile, int ld, int t,
                                 int nt) {
  for (int e = t; e < kRows * HDP; e += nt) {
    const int r = e / HDP, d = e % HDP;
    if (row0 + r < N && d < hd) head[int64_t(row0 + r) * sn + d] = tile[r * ld + d];
  }
}

// The three copies a block makes, for thread t of kRows: its own rows of x into an own tile,
template <int HDP>
PROMOE_HD inline void load_own(float* tile, const Heads& x, const Block& blk, const Dims& n, int t) {
  load_tile<HDP>(tile, own_ld<HDP>, kRows, head_of(x, blk.pair, n.H), x.sn, blk.row0, n.N, n.hd, n.bf16, t, kRows);
}

// `rows` rows of x from row0 on into a streamed tile,
template <int HDP>
PROMOE_HD inline void load_streamed(float* tile, int rows, const Heads& x, int64_t pair, int row0, const Dims& n,
                                    int t) {
  load_tile<HDP>(tile, HDP, rows, head_of(x, pair, n.H), x.sn, row0, n.N, n.hd, n.bf16, t, kRows);
}

// and an own tile back to its rows of x.
template <int HDP>
PROMOE_HD inline void store_own(const Heads& x, const float* tile, const Block& blk, const Dims& n, int t) {
  store_tile<HDP>(head_of(x, blk.pair, n.H), x.sn, blk.row0, n.N, n.hd, tile, own_ld<HDP>, t, kRows);
}

// The log-sum-exp and D of the streamed queries [row0, row0 + kBackTile) in dK/dV; past N the
// log-sum-exp is +inf, so that those queries' probabilities are exp(s - inf) = 0.
PROMOE_HD inline void load_row_stats(float* lse_tile, float* d_tile, const float* lse, const float* d, int row0, int N,
                                     int t, int nt) {
  for (int r = t; r < kBackTile; r += nt) {
    lse_tile[r] = row0 + r < N ? lse[row0 + r] : INFINITY;
    d_tile[r] = row0 + r < N ? d[row0 + r] : 0.f;
  }
}

// s[c] = sum_d row[d] * tile[c][d] for the C rows of a streamed tile, d outer (each own-row
// element is read once), every sum in order of d.
template <int HDP, int C>
PROMOE_HD inline void row_tile_dots(const float* row, const float* tile, float* s) {
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < C; ++c) s[c] = 0.f;
  PROMOE_ATTN_UNROLL_4
  for (int d = 0; d < HDP; ++d) {
    const float x = row[d];
    PROMOE_ATTN_UNROLL
    for (int c = 0; c < C; ++c) s[c] = fmaf(x, tile[c * HDP + d], s[c]);
  }
}

// acc[d] += sum_c w[c] * tile[c][d], c outer: the product of a row of weights with a streamed tile.
template <int HDP, int C>
PROMOE_HD inline void accumulate_rows(float* acc, const float* w, const float* tile) {
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < C; ++c) {
    const float x = w[c];
    PROMOE_ATTN_UNROLL
    for (int d = 0; d < HDP; ++d) acc[d] = fmaf(x, tile[c * HDP + d], acc[d]);
  }
}

// Online softmax over one key tile of one query row: s (C) holds the scaled scores, -inf past the
// last key, and is overwritten with exp(s - m) as P v reads it. m is the running max, l the running
// sum of exp(s - m) and acc (HDP) the running sum of exp(s - m) v; when the max grows, l and acc
// are rescaled by exp(m_old - m_new) (0 on the first tile, where m_old = -inf; every tile holds at
// least one key, so m_new is finite).
template <int HDP, int C>
PROMOE_HD inline void online_softmax_tile(float& m, float& l, float* acc, float* s, const float* v_tile, bool bf16) {
  float mt = m;
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < C; ++c) mt = fmaxf(mt, s[c]);
  const float alpha = expf(m - mt);
  l *= alpha;
  PROMOE_ATTN_UNROLL
  for (int d = 0; d < HDP; ++d) acc[d] *= alpha;
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < C; ++c) {
    const float p = expf(s[c] - mt);
    l += p;
    s[c] = operand(p, bf16);
  }
  accumulate_rows<HDP, C>(acc, s, v_tile);
  m = mt;
}

// Forward: one thread's step over one key tile holding nk keys (the rest zero rows).
template <int HDP>
PROMOE_HD inline void forward_tile(float& m, float& l, float* acc, const float* q_row, const float* k_tile,
                                   const float* v_tile, float scale, int nk, bool bf16) {
  float s[kKeyTile];
  row_tile_dots<HDP, kKeyTile>(q_row, k_tile, s);
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < kKeyTile; ++c) s[c] = c < nk ? s[c] * scale : -INFINITY;
  online_softmax_tile<HDP, kKeyTile>(m, l, acc, s, v_tile, bf16);
}

// Forward's end: out row = acc / l (into the thread's own tile row); returns the log-sum-exp.
template <int HDP>
PROMOE_HD inline float finish_row(float* own_row, const float* acc, float m, float l) {
  const float inv = 1.f / l;
  PROMOE_ATTN_UNROLL
  for (int d = 0; d < HDP; ++d) own_row[d] = acc[d] * inv;
  return m + logf(l);
}

// own_row = acc * factor: backward's gradient rows (scale for dQ and dK, 1 for dV).
template <int HDP>
PROMOE_HD inline void scaled_row(float* own_row, const float* acc, float factor) {
  PROMOE_ATTN_UNROLL
  for (int d = 0; d < HDP; ++d) own_row[d] = acc[d] * factor;
}

// P rebuilt from the row's log-sum-exp: p = exp(scale * (q . k) - lse).
PROMOE_HD inline float prob(float dot, float scale, float lse) { return expf(dot * scale - lse); }

// The softmax derivative w.r.t. the scaled score: dS = p * (dP - D), dP = go . v, D = go . out.
PROMOE_HD inline float dscore(float p, float dp, float d) { return p * (dp - d); }

// D_i = rowsum(go_i * out_i) over hd, in order of d: the softmax backward's row constant, with go
// as dP reads it (so that dP - D vanishes where it should, e.g. for N = 1).
PROMOE_HD inline float row_dot(const float* go, const float* out, int hd, bool bf16) {
  float s = 0.f;
  for (int d = 0; d < hd; ++d) s = fmaf(operand(go[d], bf16), out[d], s);
  return s;
}

// dQ: one query row's step over one key tile holding nk keys: dq += sum_j dS_j k_j (times scale
// at the end). Keys past nk are masked, not left to their zero rows: their p = exp(-lse) overflows
// to inf (and inf * 0 = NaN) where every score of the row is below about -88.
template <int HDP>
PROMOE_HD inline void dq_tile(float* dq, const float* q_row, const float* go_row, const float* k_tile,
                              const float* v_tile, float lse, float d, float scale, int nk, bool bf16) {
  float s[kBackTile], dp[kBackTile];
  row_tile_dots<HDP, kBackTile>(q_row, k_tile, s);
  row_tile_dots<HDP, kBackTile>(go_row, v_tile, dp);
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < kBackTile; ++c) s[c] = c < nk ? operand(dscore(prob(s[c], scale, lse), dp[c], d), bf16) : 0.f;
  accumulate_rows<HDP, kBackTile>(dq, s, k_tile);
}

// dK, dV: one key row's step over one query tile (queries past N have lse = +inf, so p = 0):
// dv += sum_i p_i go_i, dk += sum_i dS_i q_i (times scale at the end).
template <int HDP>
PROMOE_HD inline void dkv_tile(float* dk, float* dv, const float* k_row, const float* v_row, const float* q_tile,
                               const float* go_tile, const float* lse, const float* d, float scale, bool bf16) {
  float p[kBackTile], w[kBackTile];  // w: the weights of the next product
  row_tile_dots<HDP, kBackTile>(k_row, q_tile, p);
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < kBackTile; ++c) {
    p[c] = prob(p[c], scale, lse[c]);
    w[c] = operand(p[c], bf16);
  }
  accumulate_rows<HDP, kBackTile>(dv, w, go_tile);
  row_tile_dots<HDP, kBackTile>(v_row, go_tile, w);
  PROMOE_ATTN_UNROLL
  for (int c = 0; c < kBackTile; ++c) w[c] = operand(dscore(p[c], w[c], d[c]), bf16);
  accumulate_rows<HDP, kBackTile>(dk, w, q_tile);
}

}  // namespace promoe::cuda::attnmath
