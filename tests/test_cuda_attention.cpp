// The fused attention of the CUDA backend (label `cuda`) against the CPU backend and against the
// composed default, fp32 and under bf16 GEMM precision, with the no-N x N-memory check on a long
// sequence. Part of the cuda_tests binary (main in test_cuda_backend.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/cuda_backend.h"
#include "cuda_pair_util.h"
#include "fused_ops.h"
#include "tensor/precision.h"
#include "tensor/random.h"

using namespace promoe;
using namespace promoe::test;

// ---------------------------------------------------------------------------------------------
// Fused attention (cuda/attention.cu): flash-style for f32 head dims up to 72, the composed default
// otherwise; always on head-split views of a (B, N, 3D) qkv buffer, as nn::attention calls it.

namespace {

// Heads (B, H, N, hd) of part `part` of a (B, N, parts * H * hd) buffer.
Tensor attention_heads(const Tensor& t, int64_t H, int64_t hd, int64_t parts, int64_t part) {
  return raw::select(raw::permute(raw::reshape(t, {t.size(0), t.size(1), parts, H, hd}), {2, 0, 3, 1, 4}), 0, part);
}

struct AttentionRun {
  Tensor out, lse, grads;  // (B, N, D), (B, H, N), (B, N, 3D) holding gq, gk, gv like qkv
};

// Forward and backward through raw::attention_into on qkv (B, N, 3D) and go (B, N, D), on their
// device; `composed` calls the backend's inherited default instead.
AttentionRun run_attention(const Tensor& qkv, const Tensor& go, int64_t H, int64_t hd, double scale,
                           bool composed = false) {
  const int64_t B = qkv.size(0), N = qkv.size(1), D = H * hd;
  auto h3 = [&](const Tensor& t, int64_t part) { return attention_heads(t, H, hd, 3, part); };
  auto h1 = [&](const Tensor& t) { return attention_heads(t, H, hd, 1, 0); };
  AttentionRun r{Tensor::empty({B, N, D}, qkv.dtype(), qkv.device()), Tensor(),
                 Tensor::empty({B, N, 3 * D}, qkv.dtype(), qkv.device())};
  if (composed) {
    r.lse = Tensor::empty({B, H, N}, qkv.dtype(), qkv.device());
    nn::fused::attention_reference(h1(r.out), r.lse, h3(qkv, 0), h3(qkv, 1), h3(qkv, 2), scale);
    nn::fused::attention_backward_reference(h3(r.grads, 0), h3(r.grads, 1), h3(r.grads, 2), h1(go), h3(qkv, 0),
                                            h3(qkv, 1), h3(qkv, 2), h1(r.out), r.lse, scale);
  } else {
    r.lse = nn::fused::attention_into(h1(r.out), h3(qkv, 0), h3(qkv, 1), h3(qkv, 2), scale);
    nn::fused::attention_backward_into(h3(r.grads, 0), h3(r.grads, 1), h3(r.grads, 2), h1(go), h3(qkv, 0), h3(qkv, 1),
                                       h3(qkv, 2), h1(r.out), r.lse, scale);
  }
  return r;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double x : t.to_vector<double>()) m = std::max(m, std::abs(x));
  return m;
}

// out, lse and the gradients of a GPU run against a reference run: |got - want| <= rtol * |want|
// + atol, atol = frac times the tensor's largest element (sums over N keys of terms of both signs).
void check_attention(const AttentionRun& got, const AttentionRun& want, double rtol, double frac,
                     const std::string& what) {
  check_close(got.out, want.out, rtol, frac * max_abs(want.out), "attention out " + what);
  check_close(got.lse, want.lse, rtol, rtol, "attention lse " + what);
  check_close(got.grads, want.grads, rtol, frac * max_abs(want.grads), "attention grads " + what);
}

}  // namespace

TEST_CASE("cuda: fused attention forward and backward match the CPU and repeat bit for bit") {
  Generator gen(20);
  struct Case {
    DType dt;
    int64_t hd;  // 64, 72: the paper's; 40: padded to 64; 96 and f64: the composed default
  };
  const Case cases[] = {{DType::F32, 64}, {DType::F32, 72}, {DType::F32, 40}, {DType::F32, 96}, {DType::F64, 64}};
  for (const Case& c : cases)
    for (int64_t N : {1, 77, 256}) {
      const int64_t B = 2, H = 3, D = H * c.hd;
      const std::string what =
          std::string(dtype_name(c.dt)) + " hd=" + std::to_string(c.hd) + " N=" + std::to_string(N);
      Pair qkv = upload(random_tensor(gen, {B, N, 3 * D}, c.dt, 1.5));
      Pair go = upload(random_tensor(gen, {B, N, D}, c.dt, 1.0));
      const double scale = 1.0 / std::sqrt(double(c.hd));
      const AttentionRun want = run_attention(qkv.cpu, go.cpu, H, c.hd, scale),
                         got = run_attention(qkv.gpu, go.gpu, H, c.hd, scale);
      if (c.dt == DType::F32)
        check_attention(got, want, 1e-4, 5e-5, what);
      else
        check_attention(got, want, 1e-10, 1e-11, what);
      const AttentionRun again = run_attention(qkv.gpu, go.gpu, H, c.hd, scale);
      check_close(again.out, got.out, 0, 0, "attention out repeats bit for bit " + what);
      check_close(again.grads, got.grads, 0, 0, "attention grads repeat bit for bit " + what);
    }
}

TEST_CASE("cuda: fused attention under bf16 GEMM precision rounds its products' operands like the CPU") {
  Generator gen(22);
  for (int64_t hd : {64, 72})
    for (int64_t N : {1, 77, 256}) {
      const int64_t B = 2, H = 3, D = H * hd;
      const std::string what = "bf16 hd=" + std::to_string(hd) + " N=" + std::to_string(N);
      Pair qkv = upload(random_tensor(gen, {B, N, 3 * D}, DType::F32, 1.5));
      Pair go = upload(random_tensor(gen, {B, N, D}, DType::F32, 1.0));
      const double scale = 1.0 / std::sqrt(double(hd));
      GemmPrecisionGuard guard(GemmPrecision::BF16);
      const AttentionRun want = run_attention(qkv.cpu, go.cpu, H, hd, scale),
                         got = run_attention(qkv.gpu, go.gpu, H, hd, scale);
      // As in tests/test_unit_cuda_math_attention.cpp: the kernels round exp(s - m) where the CPU
      // rounds p, and take D from out: bf16 noise in out, dQ and dK; dV rounds the CPU's operands.
      check_close(got.out, want.out, 1e-4, 4e-3 * max_abs(want.out), "attention out " + what);
      check_close(got.lse, want.lse, 1e-4, 1e-4, "attention lse " + what);
      const double g_max = max_abs(want.grads);
      auto part = [&](const Tensor& g, int64_t p) { return attention_heads(g, H, hd, 3, p); };
      check_close(part(got.grads, 0), part(want.grads, 0), 1e-4, 1.5e-2 * g_max, "attention grad q " + what);
      check_close(part(got.grads, 1), part(want.grads, 1), 1e-4, 1.5e-2 * g_max, "attention grad k " + what);
      check_close(part(got.grads, 2), part(want.grads, 2), 1e-4, 5e-4 * g_max, "attention grad v " + what);
    }
}

TEST_CASE("cuda: fused attention on a long sequence keeps no N x N tensor and matches the composed default") {
  Generator gen(23);
  const int64_t B = 1, H = 2, hd = 72, N = 4096, D = H * hd;
  Tensor qkv = raw::to(random_tensor(gen, {B, N, 3 * D}, DType::F32, 1.5), kCuda);
  Tensor go = raw::to(random_tensor(gen, {B, N, D}, DType::F32, 1.0), kCuda);
  cuda::synchronize();
  const size_t base = gpu_be().current_bytes();
  gpu_be().reset_peak();
  const AttentionRun fused = run_attention(qkv, go, H, hd, 1.0 / std::sqrt(double(hd)));
  cuda::synchronize();
  const size_t extra = gpu_be().peak_bytes() - base, scores = size_t(N) * N * sizeof(float);
  MESSAGE("fused attention, N = " << N << ": " << extra << " bytes at peak beyond the inputs; one head's scores are "
                                  << scores);
  CHECK(extra < scores / 4);  // out, the gradients, lse and D: about 9.5 MB
  const AttentionRun composed = run_attention(qkv, go, H, hd, 1.0 / std::sqrt(double(hd)), true);
  check_attention(fused, composed, 1e-4, 1e-4, "N=4096 fused vs composed");
}
