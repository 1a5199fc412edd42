// Runtime micro-benchmark: GEMM GFLOP/s of raw::matmul and of the differentiable matmul against bare
// Eigen on the same shapes and threads, and elementwise GB/s against Eigen array expressions.
// Each round times runtime, autograd and Eigen back to back (interleaved, so that a noisy neighbour
// hits all three alike); the table reports the median round.
#include "apps/bench_runtime.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace promoe {

namespace {

using Clock = std::chrono::steady_clock;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double seconds_of(const std::function<void()>& f, int iters) {
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) f();
  return std::chrono::duration<double>(Clock::now() - t0).count() / iters;
}

// Enough calls per timing that one timing lasts about 50 ms (at least one call).
int calibrate(const std::function<void()>& f) {
  f();  // warm-up: first-touch pages, thread pool start
  double t = seconds_of(f, 1);
  return std::max(1, int(0.05 / std::max(t, 1e-6)));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median seconds per call of each variant over `rounds` interleaved rounds.
std::vector<double> interleaved(const std::vector<std::function<void()>>& variants, int rounds) {
  std::vector<int> iters;
  for (const auto& f : variants) iters.push_back(calibrate(f));
  std::vector<std::vector<double>> t(variants.size());
  for (int r = 0; r < rounds; ++r)
    for (size_t v = 0; v < variants.size(); ++v) t[v].push_back(seconds_of(variants[v], iters[v]));
  std::vector<double> med;
  for (auto& tv : t) med.push_back(median(tv));
  return med;
}

// One GEMM shape: out (batch, M, N) = A (batch, M, K) @ B (batch, K, N), with A and/or B given as
// transposed views of row-major buffers (ta: A stored (K, M); tb: B stored (N, K)).
struct Gemm {
  const char* name;
  int64_t batch, M, K, N;
  bool ta, tb;
};

void bench_gemm(const Gemm& g, int rounds) {
  Generator gen(1);
  Shape sa = g.ta ? Shape{g.batch, g.K, g.M} : Shape{g.batch, g.M, g.K};
  Shape sb = g.tb ? Shape{g.batch, g.N, g.K} : Shape{g.batch, g.K, g.N};
  Tensor A = gen.randn(sa), B = gen.randn(sb);
  if (g.batch == 1) {  // 2-D operands, as a linear layer passes them
    A = raw::select(A, 0, 0);
    B = raw::select(B, 0, 0);
  }
  Tensor Av = g.ta ? raw::transpose(A, -1, -2) : A, Bv = g.tb ? raw::transpose(B, -1, -2) : B;
  Tensor Ag = A.detach(), Bg = B.detach();  // leaves for the differentiable path
  Ag.set_requires_grad(true);
  Bg.set_requires_grad(true);

  // Bare Eigen on copies of the same data, the product written the natural way for each form.
  std::vector<RowMat> ea(g.batch), eb(g.batch), ec(g.batch);
  const float* pa = raw::contiguous(A).data<float>();
  const float* pb = raw::contiguous(B).data<float>();
  for (int64_t i = 0; i < g.batch; ++i) {
    ea[i] = Eigen::Map<const RowMat>(pa + i * g.M * g.K, sa[1], sa[2]);
    eb[i] = Eigen::Map<const RowMat>(pb + i * g.K * g.N, sb[1], sb[2]);
    ec[i].resize(g.M, g.N);
  }
  auto eigen_one = [&](int64_t i) {
    if (g.ta && g.tb)
      ec[i].noalias() = ea[i].transpose() * eb[i].transpose();
    else if (g.ta)
      ec[i].noalias() = ea[i].transpose() * eb[i];
    else if (g.tb)
      ec[i].noalias() = ea[i] * eb[i].transpose();
    else
      ec[i].noalias() = ea[i] * eb[i];
  };
  auto eigen = [&] {
    if (g.batch == 1) {
      eigen_one(0);
    } else {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < g.batch; ++i) eigen_one(i);
    }
  };
  auto rt_raw = [&] { raw::matmul(Av, Bv); };
  auto rt_ag = [&] {
    Tensor a = g.ta ? transpose(Ag, -1, -2) : Ag, b = g.tb ? transpose(Bg, -1, -2) : Bg;
    matmul(a, b);
  };
  std::vector<double> t = interleaved({rt_raw, rt_ag, eigen}, rounds);
  const double gflop = 2.0 * double(g.batch * g.M * g.K * g.N) * 1e-9;
  std::string shape =
      std::to_string(g.batch) + "x" + std::to_string(g.M) + "x" + std::to_string(g.K) + "x" + std::to_string(g.N);
  std::printf("%-28s %-20s %9.1f %9.1f %9.1f %8.2f %8.2f\n", g.name, shape.c_str(), gflop / t[0], gflop / t[1],
              gflop / t[2], t[2] / t[0], t[2] / t[1]);
}

// Attention scores straight from the qkv activation, as a DiT block computes them: q and k are
// head-split views (B, H, N, hd) of qkv (B, N, 3, H, hd), rows 3 * D apart. Eigen maps the same
// strided heads in place.
void bench_attention_views(int rounds) {
  const int64_t B = 8, N = 256, H = 6, hd = 64, D = H * hd;
  Generator gen(3);
  Tensor qkv = gen.randn({B, N, 3, H, hd});
  Tensor heads = raw::permute(qkv, {2, 0, 3, 1, 4});
  Tensor q = raw::select(heads, 0, 0), k = raw::select(heads, 0, 1);
  Tensor qkv_g = qkv.detach();
  qkv_g.set_requires_grad(true);
  Tensor heads_g = permute(qkv_g, {2, 0, 3, 1, 4});
  Tensor qg = select(heads_g, 0, 0), kg = select(heads_g, 0, 1);
  using StridedMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
  std::vector<RowMat> ec(B * H, RowMat(N, N));
  const float* base = qkv.data<float>();
  auto eigen = [&] {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < B * H; ++i) {
      const float* qi = base + (i / H) * N * 3 * D + (i % H) * hd;
      StridedMap qm(qi, N, hd, Eigen::OuterStride<>(3 * D)), km(qi + D, N, hd, Eigen::OuterStride<>(3 * D));
      ec[i].noalias() = qm * km.transpose();
    }
  };
  std::vector<double> t = interleaved(
      {[&] { raw::matmul(q, raw::transpose(k, -1, -2)); }, [&] { matmul(qg, transpose(kg, -1, -2)); }, eigen}, rounds);
  const double gflop = 2.0 * double(B * H * N * N * hd) * 1e-9;
  std::printf("%-28s %-20s %9.1f %9.1f %9.1f %8.2f %8.2f\n", "attn q@k^T (qkv views)", "48x256x64x256", gflop / t[0],
              gflop / t[1], gflop / t[2], t[2] / t[0], t[2] / t[1]);
}

void bench_elementwise(const char* name, int64_t n, int inputs,
                       const std::function<Tensor(const Tensor&, const Tensor&)>& rt,
                       const std::function<Tensor(const Tensor&, const Tensor&)>& ag,
                       const std::function<void(const Eigen::ArrayXf&, const Eigen::ArrayXf&, Eigen::ArrayXf&)>& eig,
                       int rounds) {
  Generator gen(2);
  Tensor a = gen.randn({n}), b = gen.randn({n});
  Tensor ag_a = a.detach(), ag_b = b.detach();
  ag_a.set_requires_grad(true);
  ag_b.set_requires_grad(true);
  Eigen::ArrayXf ea = Eigen::Map<const Eigen::ArrayXf>(a.data<float>(), n);
  Eigen::ArrayXf eb = Eigen::Map<const Eigen::ArrayXf>(b.data<float>(), n);
  Eigen::ArrayXf ec(n);
  std::vector<double> t = interleaved({[&] { rt(a, b); }, [&] { ag(ag_a, ag_b); }, [&] { eig(ea, eb, ec); }}, rounds);
  const double gb = double(n) * 4.0 * (inputs + 1) * 1e-9;  // inputs read once, output written once
  std::string shape = std::to_string(n / (1 << 20)) + "M f32";
  std::printf("%-28s %-20s %9.1f %9.1f %9.1f %8.2f %8.2f\n", name, shape.c_str(), gb / t[0], gb / t[1], gb / t[2],
              t[2] / t[0], t[2] / t[1]);
}

// Eigen's parallelism for elementwise work: one contiguous slice per OpenMP thread.
template <typename F>
void eigen_parallel(int64_t n, F f) {
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    int64_t chunk = (n + nt - 1) / nt, lo = std::min<int64_t>(n, id * chunk),
            len = std::min<int64_t>(n, lo + chunk) - lo;
    f(lo, len);
  }
}

}  // namespace

void run_runtime_bench(const RuntimeBenchOptions& options) {
  omp_set_num_threads(options.threads);
  Eigen::setNbThreads(options.threads);
  const int rounds = std::max(1, options.repeats);
  std::printf("runtime bench: %d threads, %d interleaved rounds, median; Eigen %d.%d.%d\n", options.threads, rounds,
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  std::printf("%-28s %-20s %9s %9s %9s %8s %8s\n", "matmul (fp32)", "B x M x K x N", "raw GF/s", "ag GF/s", "Eigen",
              "raw/Eig", "ag/Eig");
  // DiT-S block on 8 images of 256 tokens: T = 2048 rows, D = 384, 6 heads of 64, MLP 1536.
  // A linear layer computes y = x @ W^T (forward, B transposed), dX = g @ W, dW = g^T @ x.
  const int64_t T = 2048, D = 384;
  // One product per line.
  // clang-format off
  std::vector<Gemm> gemms = {
      {"square NN", 1, 1024, 1024, 1024, false, false},
      {"qkv  fwd x@W^T", 1, T, D, 3 * D, false, true},
      {"qkv  dX g@W", 1, T, 3 * D, D, false, false},
      {"qkv  dW g^T@x", 1, 3 * D, T, D, true, false},
      {"proj fwd x@W^T", 1, T, D, D, false, true},
      {"proj dX g@W", 1, T, D, D, false, false},
      {"proj dW g^T@x", 1, D, T, D, true, false},
      {"fc1  fwd x@W^T", 1, T, D, 4 * D, false, true},
      {"fc1  dX g@W", 1, T, 4 * D, D, false, false},
      {"fc1  dW g^T@x", 1, 4 * D, T, D, true, false},
      {"fc2  fwd x@W^T", 1, T, 4 * D, D, false, true},
      {"fc2  dX g@W", 1, T, D, 4 * D, false, false},
      {"fc2  dW g^T@x", 1, D, T, 4 * D, true, false},
      {"attn q@k^T", 48, 256, 64, 256, false, true},
      {"attn p@v", 48, 256, 256, 64, false, false},
      {"attn dV p^T@g", 48, 256, 256, 64, true, false},
  };
  // clang-format on
  for (const Gemm& g : gemms) bench_gemm(g, rounds);
  bench_attention_views(rounds);

  std::printf("\n%-28s %-20s %9s %9s %9s %8s %8s\n", "elementwise", "size", "raw GB/s", "ag GB/s", "Eigen", "raw/Eig",
              "ag/Eig");
  const int64_t n = int64_t(16) << 20;
  bench_elementwise(
      "add a+b", n, 2, [](const Tensor& a, const Tensor& b) { return raw::add(a, b); },
      [](const Tensor& a, const Tensor& b) { return add(a, b); },
      [](const Eigen::ArrayXf& a, const Eigen::ArrayXf& b, Eigen::ArrayXf& c) {
        eigen_parallel(a.size(),
                       [&](int64_t lo, int64_t len) { c.segment(lo, len) = a.segment(lo, len) + b.segment(lo, len); });
      },
      rounds);
  bench_elementwise(
      "gelu_tanh", n, 1, [](const Tensor& a, const Tensor&) { return raw::unary(UnaryOp::GeluTanh, a); },
      [](const Tensor& a, const Tensor&) { return gelu_tanh(a); },
      [](const Eigen::ArrayXf& a, const Eigen::ArrayXf&, Eigen::ArrayXf& c) {
        eigen_parallel(a.size(), [&](int64_t lo, int64_t len) {
          auto x = a.segment(lo, len);
          c.segment(lo, len) = 0.5f * x * (1.0f + (0.7978845608f * (x + 0.044715f * x.cube())).tanh());
        });
      },
      rounds);
}

}  // namespace promoe
