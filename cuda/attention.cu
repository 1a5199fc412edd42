// Fused flash-style attention on CUDA (FlashAttention-2 order, fp32 FMA, no tensor cores) on
// head-split views (B, H, N, hd) with unit-stride rows: no N x N tensor reaches global memory.
//
//   forward   block = 64 queries of one head, a thread each (its query row in a shared tile; running
//             max, sum and HDP accumulator in registers); loops over 32-key tiles of k, v in shared
//             memory with the online softmax; writes out and lse (B, H, N).
//   backward  1. D = rowsum(go * out) (B, H, N), a thread per row.
//             2. dQ: block = 64 queries, loops over 16-key tiles of k, v, P rebuilt from lse.
//             3. dK, dV: block = 64 keys, loops over 16-query tiles of q, go, lse and D.
//             Scores and dP are computed in both 2 and 3 instead of adding dQ up with atomics, so
//             the gradients repeat bit for bit.
// Shared memory per block is at most 46.6 KiB (hd 72), under the 48 KiB static limit. Head dims
// up to 72 are padded to 32, 64 or 72; larger ones and f64 take the op's composed reference
// (nn/fused_attention.cpp). Under bf16 GEMM precision (tensor/precision.h) the products read
// bf16-rounded operands like the CPU's. The math is in cuda/attention_math.cuh.
#include <type_traits>

#include "cuda/attention_math.cuh"
#include "cuda/common.cuh"
#include "tensor/fused.h"
#include "tensor/precision.h"

namespace promoe::cuda {

namespace {

namespace am = attnmath;

am::Heads heads_of(const Tensor& t) { return {t.data<float>(), t.stride(0), t.stride(1), t.stride(2)}; }

template <int HDP>
__global__ void __launch_bounds__(am::kRows)
    attention_forward_kernel(am::Heads q, am::Heads k, am::Heads v, am::Heads out, float* lse, am::Dims n) {
  __shared__ __align__(16) float smem[am::ForwardSmem<HDP>::floats];
  const am::ForwardSmem<HDP> sm(smem);
  const am::Block blk = am::block_of(blockIdx.x, n.tiles);
  const int t = threadIdx.x;
  am::load_own<HDP>(sm.q, q, blk, n, t);
  float* q_row = sm.q + t * am::own_ld<HDP>;
  float m = -INFINITY, l = 0.f, acc[HDP] = {};
  for (int key0 = 0; key0 < n.N; key0 += am::kKeyTile) {
    __syncthreads();  // the previous tile is consumed
    am::load_streamed<HDP>(sm.k, am::kKeyTile, k, blk.pair, key0, n, t);
    am::load_streamed<HDP>(sm.v, am::kKeyTile, v, blk.pair, key0, n, t);
    __syncthreads();
    am::forward_tile<HDP>(m, l, acc, q_row, sm.k, sm.v, n.scale, min(am::kKeyTile, n.N - key0), n.bf16);
  }
  const float row_lse = am::finish_row<HDP>(q_row, acc, m, l);  // out replaces the query row
  if (blk.row0 + t < n.N) lse[blk.pair * n.N + blk.row0 + t] = row_lse;
  __syncthreads();
  am::store_own<HDP>(out, sm.q, blk, n, t);
}

// D (B, H, N) contiguous, a thread per row.
__global__ void attention_rowdot_kernel(float* d, am::Heads go, am::Heads out, am::Dims n, int64_t rows) {
  PROMOE_GRID_STRIDE(r, rows) {
    const int64_t pair = r / n.N, i = r % n.N;
    d[r] = am::row_dot(am::head_of(go, pair, n.H) + i * go.sn, am::head_of(out, pair, n.H) + i * out.sn, n.hd, n.bf16);
  }
}

template <int HDP>
__global__ void __launch_bounds__(am::kRows)
    attention_dq_kernel(am::Heads gq, am::Heads q, am::Heads k, am::Heads v, am::Heads go, const float* lse,
                        const float* d, am::Dims n) {
  __shared__ __align__(16) float smem[am::DqSmem<HDP>::floats];
  const am::DqSmem<HDP> sm(smem);
  const am::Block blk = am::block_of(blockIdx.x, n.tiles);
  const int t = threadIdx.x, i = blk.row0 + t;
  am::load_own<HDP>(sm.q, q, blk, n, t);
  am::load_own<HDP>(sm.go, go, blk, n, t);
  const float row_lse = i < n.N ? lse[blk.pair * n.N + i] : 0.f, row_d = i < n.N ? d[blk.pair * n.N + i] : 0.f;
  float* q_row = sm.q + t * am::own_ld<HDP>;
  const float* go_row = sm.go + t * am::own_ld<HDP>;
  float dq[HDP] = {};
  for (int key0 = 0; key0 < n.N; key0 += am::kBackTile) {
    __syncthreads();
    am::load_streamed<HDP>(sm.k, am::kBackTile, k, blk.pair, key0, n, t);
    am::load_streamed<HDP>(sm.v, am::kBackTile, v, blk.pair, key0, n, t);
    __syncthreads();
    am::dq_tile<HDP>(dq, q_row, go_row, sm.k, sm.v, row_lse, row_d, n.scale, min(am::kBackTile, n.N - key0), n.bf16);
  }
  am::scaled_row<HDP>(q_row, dq, n.scale);  // dQ replaces the query row
  __syncthreads();
  am::store_own<HDP>(gq, sm.q, blk, n, t);
}

template <int HDP>
__global__ void __launch_bounds__(am::kRows)
    attention_dkv_kernel(am::Heads gk, am::Heads gv, am::Heads q, am::Heads k, am::Heads v, am::Heads go,
                         const float* lse, const float* d, am::Dims n) {
  __shared__ __align__(16) float smem[am::DkvSmem<HDP>::floats];
  const am::DkvSmem<HDP> sm(smem);
  const am::Block blk = am::block_of(blockIdx.x, n.tiles);
  const int t = threadIdx.x;
  am::load_own<HDP>(sm.k, k, blk, n, t);
  am::load_own<HDP>(sm.v, v, blk, n, t);
  float* k_row = sm.k + t * am::own_ld<HDP>;
  float* v_row = sm.v + t * am::own_ld<HDP>;
  float dk[HDP] = {}, dv[HDP] = {};
  for (int q0 = 0; q0 < n.N; q0 += am::kBackTile) {
    __syncthreads();
    am::load_streamed<HDP>(sm.q, am::kBackTile, q, blk.pair, q0, n, t);
    am::load_streamed<HDP>(sm.go, am::kBackTile, go, blk.pair, q0, n, t);
    am::load_row_stats(sm.lse, sm.d, lse + blk.pair * n.N, d + blk.pair * n.N, q0, n.N, t, am::kRows);
    __syncthreads();
    am::dkv_tile<HDP>(dk, dv, k_row, v_row, sm.q, sm.go, sm.lse, sm.d, n.scale, n.bf16);
  }
  am::scaled_row<HDP>(k_row, dk, n.scale);  // dK, dV replace the key and value rows
  am::scaled_row<HDP>(v_row, dv, 1.f);
  __syncthreads();
  am::store_own<HDP>(gk, sm.k, blk, n, t);
  am::store_own<HDP>(gv, sm.v, blk, n, t);
}

// Calls f(std::integral_constant<int, HDP>) for the fused kernels of q's head dim; false where
// there are none (f64, head dims over 72).
template <typename F>
bool with_fused(const Tensor& q, F f) {
  if (q.dtype() != DType::F32) return false;
  switch (am::padded_head_dim(q.size(3))) {
    case 32:
      f(std::integral_constant<int, 32>{});
      return true;
    case 64:
      f(std::integral_constant<int, 64>{});
      return true;
    case 72:
      f(std::integral_constant<int, 72>{});
      return true;
    default:
      return false;
  }
}

am::Dims dims_of(const Tensor& q, double scale) {
  return {int(q.size(1)),           int(q.size(2)), int(q.size(3)),
          am::row_tiles(q.size(2)), float(scale),   gemm_rounds_to_bf16(q.dtype())};
}

// row_tiles(N) blocks per head, of kRows threads.
dim3 grid_of(const Tensor& q) { return dim3(unsigned(q.size(0) * q.size(1) * am::row_tiles(q.size(2)))); }

}  // namespace

namespace {

void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const bool fused = with_fused(q, [&](auto hdp) {
    attention_forward_kernel<decltype(hdp)::value><<<grid_of(q), am::kRows, 0, context().stream>>>(
        heads_of(q), heads_of(k), heads_of(v), heads_of(out), lse.data<float>(), dims_of(q, scale));
    CUDA_CHECK_LAUNCH("attention");
  });
  if (!fused) fused_reference<decltype(attention)>("nn.attention")(out, lse, q, k, v, scale);
}

void attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, double scale) {
  const bool fused = with_fused(q, [&](auto hdp) {
    constexpr int HDP = decltype(hdp)::value;
    const am::Dims n = dims_of(q, scale);
    const cudaStream_t stream = context().stream;
    Tensor d = Tensor::empty(lse.shape(), DType::F32, q.device());  // (B, H, N)
    launch_1d("attention_backward D", d.numel(), attention_rowdot_kernel, d.data<float>(), heads_of(go), heads_of(out),
              n, d.numel());
    attention_dq_kernel<HDP><<<grid_of(q), am::kRows, 0, stream>>>(heads_of(gq), heads_of(q), heads_of(k), heads_of(v),
                                                                   heads_of(go), lse.data<float>(), d.data<float>(), n);
    CUDA_CHECK_LAUNCH("attention_backward dQ");
    attention_dkv_kernel<HDP><<<grid_of(q), am::kRows, 0, stream>>>(heads_of(gk), heads_of(gv), heads_of(q),
                                                                    heads_of(k), heads_of(v), heads_of(go),
                                                                    lse.data<float>(), d.data<float>(), n);
    CUDA_CHECK_LAUNCH("attention_backward dK, dV");
  });
  if (!fused)
    fused_reference<decltype(attention_backward)>("nn.attention_backward")(gq, gk, gv, go, q, k, v, out, lse, scale);
}

// The fast kernels of nn.attention, nn.attention_backward.
const bool registered = register_fused_kernel("nn.attention", DeviceType::CUDA, &attention) &&
                        register_fused_kernel("nn.attention_backward", DeviceType::CUDA, &attention_backward);

}  // namespace

}  // namespace promoe::cuda
