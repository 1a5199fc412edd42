// The CUDA backend against the CPU backend (label `cuda`): every primitive of tensor/backend.h on
// random inputs, run on both devices, compared with a tolerance model by dtype (f32 ~1e-5
// relative, f64 ~1e-12, integers and bf16 exact, matmul bounded by K * eps * (|A| @ |B|)),
// non-contiguous and broadcast views included; the matrix products' tests are in
// test_cuda_matmul.cpp, the fused attention's in test_cuda_attention.cpp, the expert bank's in
// test_cuda_moe.cpp. Needs a GPU: without one the binary prints "SKIPPED: no CUDA GPU" and
// exits 0, which ctest reports as skipped. Run: ctest -L cuda
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "cuda/cuda_backend.h"
#include "cuda_pair_util.h"
#include "fused_ops.h"
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tensor/random.h"

using namespace promoe;
using namespace promoe::test;

// ---------------------------------------------------------------------------------------------
// Memory

TEST_CASE("cuda: the caching allocator counts bytes, reuses blocks by size class and empties") {
  Backend& be = gpu_be();
  cuda::synchronize();
  const size_t base = be.current_bytes();
  void* p = be.allocate(1000);  // size class 1024
  CHECK(be.current_bytes() == base + 1000);
  CHECK(be.peak_bytes() >= base + 1000);
  be.deallocate(p, 1000);
  CHECK(be.current_bytes() == base);
  CHECK(cuda::cached_bytes() >= 1024);
  void* q = be.allocate(1010);  // same class: the cached block comes back
  CHECK(q == p);
  be.deallocate(q, 1010);
  be.reset_peak();
  CHECK(be.peak_bytes() == be.current_bytes());
  cuda::empty_cache();
  CHECK(cuda::cached_bytes() == 0);
  {
    Tensor t = Tensor::empty({1 << 20}, DType::F32, kCuda);
    CHECK(be.current_bytes() == base + (size_t(4) << 20));
  }
  CHECK(be.current_bytes() == base);
  CHECK(cuda::reserved_bytes() >= cuda::cached_bytes());
}

TEST_CASE("cuda: host <-> device copies round-trip bytes, and cross-device copy_ converts") {
  Generator gen(1);
  Tensor h = gen.randn({1000}, DType::F64);
  Tensor d = raw::to(h, kCuda);
  CHECK(d.device() == kCuda);
  CHECK(d.to_vector<double>() == h.to_vector<double>());
  // Strided host source to a device view, converting dtype on the way.
  Tensor hv = raw::transpose(gen.randn({7, 5}, DType::F64), 0, 1);
  Tensor dv = raw::transpose(Tensor::empty({7, 5}, DType::F32, kCuda), 0, 1);
  raw::copy_(dv, hv);
  check_close(dv, raw::to(hv, DType::F32), 0, 0, "copy_ host f64 view -> device f32 view");
}

// ---------------------------------------------------------------------------------------------
// Elementwise

TEST_CASE("cuda: copy between every dtype pair over strided views") {
  Generator gen(2);
  const Shape shape{3, 4, 5};
  for (DType from : {DType::F32, DType::F64, DType::I64, DType::BF16})
    for (DType to : {DType::F32, DType::F64, DType::I64, DType::BF16})
      for (ViewKind kind : kAllKinds) {
        Pair src = random_pair(gen, shape, from, kind);
        Pair out = view(empty_pair({5, 4, 3}, to), [](const Tensor& t) { return raw::permute(t, {2, 1, 0}); });
        cpu_be().copy(out.cpu, src.cpu);
        gpu_be().copy(out.gpu, src.gpu);
        check_pair(out, 0, 0,
                   std::string("copy ") + dtype_name(from) + " -> " + dtype_name(to) + " " + kind_name(kind));
      }
  // Grid-stride loops: more elements than one launch covers.
  Pair big = upload(gen.randn({5 << 20}, DType::F32));
  Pair big_out = empty_pair({5 << 20}, DType::BF16);
  cpu_be().copy(big_out.cpu, big.cpu);
  gpu_be().copy(big_out.gpu, big.gpu);
  check_pair(big_out, 0, 0, "copy of 5M elements f32 -> bf16");
}

TEST_CASE("cuda: fill and arange") {
  for (DType dt : {DType::F32, DType::F64, DType::I64, DType::BF16}) {
    Pair out = view(empty_pair({6, 8}, dt), [](const Tensor& t) { return raw::narrow(t, 1, 2, 5); });
    cpu_be().fill(out.cpu, -2.7);
    gpu_be().fill(out.gpu, -2.7);
    check_pair(out, 0, 0, std::string("fill ") + dtype_name(dt));
  }
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    check_close(raw::arange(-3.5, 40.0, 0.25, dt, kCuda), raw::arange(-3.5, 40.0, 0.25, dt), 0, 0,
                std::string("arange ") + dtype_name(dt));
}

TEST_CASE("cuda: every unary op over strided views") {
  Generator gen(3);
  const UnaryOp ops[] = {UnaryOp::Neg,        UnaryOp::Exp,       UnaryOp::Log,    UnaryOp::Sqrt,     UnaryOp::Rsqrt,
                         UnaryOp::Tanh,       UnaryOp::Sigmoid,   UnaryOp::Silu,   UnaryOp::GeluTanh, UnaryOp::Sin,
                         UnaryOp::Cos,        UnaryOp::Abs,       UnaryOp::Relu,   UnaryOp::Sign,     UnaryOp::Square,
                         UnaryOp::Reciprocal, UnaryOp::PowScalar, UnaryOp::Affine, UnaryOp::Clamp};
  for (DType dt : {DType::F32, DType::F64})
    for (UnaryOp op : ops)
      for (ViewKind kind : kAllKinds) {
        Pair a = random_pair(gen, {4, 3, 6}, dt, kind);
        if (op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::PowScalar)
          a = view(a, [](const Tensor& t) { return raw::add_scalar(raw::unary(UnaryOp::Abs, t), 0.1); });
        const double p0 = op == UnaryOp::Clamp ? -1.0 : 2.5, p1 = op == UnaryOp::Clamp ? 1.5 : -0.5;
        Pair out{raw::unary(op, a.cpu, p0, p1), raw::unary(op, a.gpu, p0, p1)};
        check_pair(out, rtol_for(dt), atol_for(dt), "unary op " + std::to_string(int(op)) + " " + name_of(dt, kind));
      }
}

TEST_CASE("cuda: every binary op with broadcasting over strided views") {
  Generator gen(4);
  const BinaryOp ops[] = {BinaryOp::Add,
                          BinaryOp::Sub,
                          BinaryOp::Mul,
                          BinaryOp::Div,
                          BinaryOp::Pow,
                          BinaryOp::Maximum,
                          BinaryOp::Minimum,
                          BinaryOp::Eq,
                          BinaryOp::Ne,
                          BinaryOp::Lt,
                          BinaryOp::Le,
                          BinaryOp::Gt,
                          BinaryOp::Ge,
                          BinaryOp::GeluTanhBackward,
                          BinaryOp::SiluBackward,
                          BinaryOp::SigmoidBackwardFromOutput,
                          BinaryOp::TanhBackwardFromOutput};
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (BinaryOp op : ops)
      for (ViewKind kind : kAllKinds) {
        const bool int_ok = op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul ||
                            op == BinaryOp::Maximum || op == BinaryOp::Minimum || op == BinaryOp::Eq ||
                            op == BinaryOp::Ne || op == BinaryOp::Lt || op == BinaryOp::Le || op == BinaryOp::Gt ||
                            op == BinaryOp::Ge;
        Pair a = random_pair(gen, {4, 1, 5}, dt, kind), b = random_pair(gen, {3, 1}, dt, kind);
        if (dt == DType::I64 && !int_ok) {
          CHECK_THROWS_AS(raw::binary(op, a.gpu, b.gpu), Error);
          continue;
        }
        if (op == BinaryOp::Pow)
          a = view(a, [](const Tensor& t) { return raw::add_scalar(raw::unary(UnaryOp::Abs, t), 0.1); });
        Pair out{raw::binary(op, a.cpu, b.cpu), raw::binary(op, a.gpu, b.gpu)};
        check_pair(out, rtol_for(dt), atol_for(dt), "binary op " + std::to_string(int(op)) + " " + name_of(dt, kind));
      }
  // In place with a broadcast source: dst += src.
  Pair dst = upload(gen.randn({64, 33}, DType::F32)), src = upload(gen.randn({33}, DType::F32));
  raw::add_(dst.cpu, src.cpu);
  raw::add_(dst.gpu, src.gpu);
  check_pair(dst, 1e-6, 1e-6, "add_ broadcast");
}

TEST_CASE("cuda: where with conditions of every dtype") {
  Generator gen(5);
  for (DType cdt : {DType::F32, DType::F64, DType::I64, DType::BF16})
    for (DType dt : {DType::F32, DType::F64, DType::I64}) {
      Pair c = view(random_pair(gen, {3, 1, 2}, DType::I64, ViewKind::Permuted),
                    [&](const Tensor& t) { return raw::to(t, cdt); });
      Pair a = random_pair(gen, {3, 4, 2}, dt, ViewKind::Narrowed),
           b = random_pair(gen, {4, 1}, dt, ViewKind::Contiguous);
      Pair out{raw::where(c.cpu, a.cpu, b.cpu), raw::where(c.gpu, a.gpu, b.gpu)};
      check_pair(out, 0, 0, std::string("where cond ") + dtype_name(cdt) + " values " + dtype_name(dt));
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions

TEST_CASE("cuda: sum, mean, max and min over any dims of strided views") {
  Generator gen(6);
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const Case cases[] = {{{6, 7, 8}, {2}},  {{6, 7, 8}, {1, 2}}, {{6, 7, 8}, {0}},   {{6, 7, 8}, {0, 2}},
                        {{6, 7, 8}, {}},   {{3, 100000}, {1}},  {{100000, 3}, {0}}, {{3, 5000}, {0}},
                        {{4097, 33}, {0}}, {{2, 0, 3}, {1}},    {{1 << 21}, {}},    {{64, 3, 4097}, {0, 2}}};
  for (const Case& c : cases)
    for (DType dt : {DType::F32, DType::F64, DType::I64})
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min})
        for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Broadcast}) {
          if (numel_of(c.shape) == 0 && op != ReduceOp::Sum) continue;
          if (numel_of(c.shape) > 100000 && kind == ViewKind::Broadcast) continue;
          Pair a = random_pair(gen, c.shape, dt, kind);
          Pair out{raw::reduce(op, a.cpu, c.dims, false), raw::reduce(op, a.gpu, c.dims, false)};
          // Sums accumulate in double on both devices, in different orders.
          const double rtol = dt == DType::F32 ? 1e-6 : dt == DType::F64 ? 1e-12 : 0;
          check_pair(
              out, rtol, rtol,
              std::string("reduce ") + std::to_string(int(op)) + " " + shape_str(c.shape) + " " + name_of(dt, kind));
        }
  // NaN propagates through max and min.
  Tensor h = gen.randn({4, 50}, DType::F32);
  h.data<float>()[77] = std::numeric_limits<float>::quiet_NaN();
  Pair a = upload(h);
  for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min})
    check_pair({raw::reduce(op, a.cpu, {1}, true), raw::reduce(op, a.gpu, {1}, true)}, 0, 0, "reduce with NaN");
}

TEST_CASE("cuda: arg max / min with ties and NaN over strided views") {
  Generator gen(7);
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (int64_t n : {1, 5, 32, 33, 1000})
      for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted}) {
        Tensor h = random_tensor(gen, {3, 4, n}, dt);
        if (dt == DType::F32) {
          h.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
          if (n > 5) h.data<float>()[n + 2] = h.data<float>()[n + 5] = std::numeric_limits<float>::quiet_NaN();
        }
        Pair a = upload(h);
        if (kind == ViewKind::Permuted)
          a = view(a, [](const Tensor& t) {
            return raw::permute(raw::contiguous(raw::permute(t, {2, 0, 1})), {1, 2, 0});
          });
        for (int64_t dim : {0, 2}) {
          raw::ValuesIndices c = raw::max_dim(a.cpu, dim, false), g = raw::max_dim(a.gpu, dim, false);
          check_close(g.values, c.values, 0, 0, "max values " + name_of(dt, kind) + " n=" + std::to_string(n));
          check_close(g.indices, c.indices, 0, 0, "max indices " + name_of(dt, kind) + " n=" + std::to_string(n));
        }
        Tensor vc = Tensor::empty({3, 4}, dt), ic = Tensor::empty({3, 4}, DType::I64);
        Tensor vg = Tensor::empty({3, 4}, dt, kCuda), ig = Tensor::empty({3, 4}, DType::I64, kCuda);
        cpu_be().arg_reduce(ReduceOp::Min, vc, ic, a.cpu);
        gpu_be().arg_reduce(ReduceOp::Min, vg, ig, a.gpu);
        check_close(vg, vc, 0, 0, "min values " + name_of(dt, kind));
        check_close(ig, ic, 0, 0, "min indices " + name_of(dt, kind));
      }
}

// ---------------------------------------------------------------------------------------------
// Row-wise

TEST_CASE("cuda: softmax, log-softmax and their backward along any dim") {
  Generator gen(10);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : {1, 5, 64, 1000, 1500, 5000})
      for (bool log : {false, true}) {
        Pair x = upload(random_tensor(gen, {6, n}, dt, 2.0)), g = upload(random_tensor(gen, {6, n}, dt, 1.0));
        for (int64_t dim : {1, 0}) {
          Pair y{raw::softmax(x.cpu, dim, log), raw::softmax(x.gpu, dim, log)};
          const std::string what = std::string(log ? "log_softmax " : "softmax ") + dtype_name(dt) +
                                   " n=" + std::to_string(n) + " dim " + std::to_string(dim);
          check_pair(y, rtol_for(dt), atol_for(dt), what);
          Pair gi{raw::softmax_backward(g.cpu, y.cpu, dim, log), raw::softmax_backward(g.gpu, y.gpu, dim, log)};
          check_pair(gi, rtol_for(dt), atol_for(dt) * 10, what + " backward");
        }
      }
}

TEST_CASE("cuda: LayerNorm forward statistics and backward") {
  Generator gen(11);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : {1, 7, 384, 1025, 4096}) {
      Pair x =
          view(upload(random_tensor(gen, {2, 5, n}, dt, 2.0)), [](const Tensor& t) { return raw::add_scalar(t, 3.0); });
      Pair g = upload(random_tensor(gen, {2, 5, n}, dt, 1.0));
      raw::LayerNormResult c = raw::layer_norm(x.cpu, 1e-5), d = raw::layer_norm(x.gpu, 1e-5);
      const std::string what = std::string("layer_norm ") + dtype_name(dt) + " n=" + std::to_string(n);
      check_close(d.out, c.out, rtol_for(dt), atol_for(dt), what);
      check_close(d.mean, c.mean, rtol_for(dt), atol_for(dt), what + " mean");
      check_close(d.rstd, c.rstd, rtol_for(dt), atol_for(dt), what + " rstd");
      check_close(raw::layer_norm_backward(g.gpu, x.gpu, d.mean, d.rstd),
                  raw::layer_norm_backward(g.cpu, x.cpu, c.mean, c.rstd), rtol_for(dt) * 10, atol_for(dt) * 10,
                  what + " backward");
    }
}

// ---------------------------------------------------------------------------------------------
// Fused kernels (adaLN, bias + GELU)

namespace {

// A sum of n terms of size ~1, which the CPU adds in the element type.
double sum_tol(DType dt, int64_t n) { return dt == DType::F32 ? 2e-6 * double(n + 10) : 1e-11; }

}  // namespace

TEST_CASE("cuda: fused LayerNorm + modulation and the gated residual, with their backward, match the CPU") {
  Generator gen(17);
  struct Bnd {
    int64_t B, N, D;
  };
  // One image, odd widths, block rows (D > 1024), and few columns over many rows (split sums).
  const Bnd shapes[] = {{1, 5, 130}, {3, 7, 33}, {2, 70, 384}, {2, 9, 1500}, {1, 4096, 8}, {4, 1, 1}};
  for (DType dt : {DType::F32, DType::F64})
    for (const Bnd& s : shapes) {
      const int64_t B = s.B, N = s.N, D = s.D;
      const std::string what = std::string(dtype_name(dt)) + " (" + std::to_string(B) + ", " + std::to_string(N) +
                               ", " + std::to_string(D) + ")";
      Pair x =
          view(upload(random_tensor(gen, {B, N, D}, dt, 2.0)), [](const Tensor& t) { return raw::add_scalar(t, 1.0); });
      Pair y = upload(random_tensor(gen, {B, N, D}, dt, 1.0)), g = upload(random_tensor(gen, {B, N, D}, dt, 1.0));
      Pair shift = upload(random_tensor(gen, {B, D}, dt, 1.0)), scale = upload(random_tensor(gen, {B, D}, dt, 0.5));
      Pair gate = upload(random_tensor(gen, {B, D}, dt, 1.0));
      nn::fused::LayerNormModulateResult c = nn::fused::layer_norm_modulate(x.cpu, shift.cpu, scale.cpu, 1e-6),
                                         d = nn::fused::layer_norm_modulate(x.gpu, shift.gpu, scale.gpu, 1e-6);
      check_close(d.out, c.out, rtol_for(dt), atol_for(dt) * 10, "layer_norm_modulate " + what);
      check_close(d.mean, c.mean, rtol_for(dt), atol_for(dt), "layer_norm_modulate mean " + what);
      check_close(d.rstd, c.rstd, rtol_for(dt), atol_for(dt), "layer_norm_modulate rstd " + what);
      nn::fused::LayerNormModulateGrads gc = nn::fused::layer_norm_modulate_backward(g.cpu, x.cpu, c.mean, c.rstd,
                                                                                     scale.cpu),
                                        gd = nn::fused::layer_norm_modulate_backward(g.gpu, x.gpu, d.mean, d.rstd,
                                                                                     scale.gpu);
      // D = 1: xhat is 0 and rstd 1/sqrt(eps), so the CPU's rounding of g - mean(g) shows up at 1e3 x.
      const double gx_atol = D == 1 ? (dt == DType::F32 ? 1e-3 : 1e-9) : atol_for(dt) * 100;
      check_close(gd.x, gc.x, rtol_for(dt) * 10, gx_atol, "layer_norm_modulate grad_x " + what);
      check_close(gd.shift, gc.shift, rtol_for(dt), sum_tol(dt, N), "layer_norm_modulate grad_shift " + what);
      check_close(gd.scale, gc.scale, rtol_for(dt), sum_tol(dt, N), "layer_norm_modulate grad_scale " + what);
      nn::fused::LayerNormModulateGrads again =
          nn::fused::layer_norm_modulate_backward(g.gpu, x.gpu, d.mean, d.rstd, scale.gpu);
      check_close(again.scale, gd.scale, 0, 0, "layer_norm_modulate grad_scale repeats bit for bit " + what);

      check_close(nn::fused::gated_add(x.gpu, gate.gpu, y.gpu), nn::fused::gated_add(x.cpu, gate.cpu, y.cpu),
                  rtol_for(dt), atol_for(dt), "gated_add " + what);
      nn::fused::GatedAddGrads ac = nn::fused::gated_add_backward(g.cpu, y.cpu, gate.cpu),
                               ad = nn::fused::gated_add_backward(g.gpu, y.gpu, gate.gpu);
      check_close(ad.y, ac.y, rtol_for(dt), atol_for(dt), "gated_add grad_y " + what);
      check_close(ad.gate, ac.gate, rtol_for(dt), sum_tol(dt, N), "gated_add grad_gate " + what);
      check_close(nn::fused::gated_add_backward(g.gpu, y.gpu, gate.gpu).gate, ad.gate, 0, 0,
                  "gated_add grad_gate repeats bit for bit " + what);
    }
}

TEST_CASE("cuda: fused bias + GELU and its backward match the CPU") {
  Generator gen(18);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t rows : {1, 7, 300, 5000})
      for (int64_t n : {1, 130, 1536}) {
        const std::string what =
            std::string(dtype_name(dt)) + " rows=" + std::to_string(rows) + " n=" + std::to_string(n);
        Pair pre = upload(random_tensor(gen, {rows, n}, dt, 2.0)), bias = upload(random_tensor(gen, {n}, dt, 1.0));
        Pair g = upload(random_tensor(gen, {rows, n}, dt, 1.0));
        Pair out{nn::fused::bias_gelu_(pre.cpu, bias.cpu), nn::fused::bias_gelu_(pre.gpu, bias.gpu)};
        check_pair(pre, rtol_for(dt), atol_for(dt), "bias_gelu pre + bias " + what);
        check_pair(out, rtol_for(dt), atol_for(dt), "bias_gelu " + what);
        nn::fused::BiasGeluGrads c = nn::fused::bias_gelu_backward(g.cpu, pre.cpu),
                                 d = nn::fused::bias_gelu_backward(g.gpu, pre.gpu);
        check_close(d.pre, c.pre, rtol_for(dt), atol_for(dt), "bias_gelu grad_pre " + what);
        check_close(d.bias, c.bias, rtol_for(dt), sum_tol(dt, rows), "bias_gelu grad_bias " + what);
        check_close(nn::fused::bias_gelu_backward(g.gpu, pre.gpu).bias, d.bias, 0, 0,
                    "bias_gelu grad_bias repeats " + what);
      }
}

// ---------------------------------------------------------------------------------------------
// Indexing

TEST_CASE("cuda: index_select, index_add, gather and scatter_add with repeated indices") {
  Generator gen(12);
  const Shape shape{5, 6, 7};
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (int64_t dim = 0; dim < 3; ++dim)
      for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Narrowed}) {
        const std::string what = name_of(dt, kind) + " dim " + std::to_string(dim);
        // Sums with repeated indices use atomics on the GPU: order differs, hence the tolerance.
        const double rtol = rtol_for(dt), atol = atol_for(dt) * 10;
        Pair a = random_pair(gen, shape, dt, kind);
        Pair idx = upload(gen.randint({9}, 0, shape[dim]));
        check_pair({raw::index_select(a.cpu, dim, idx.cpu), raw::index_select(a.gpu, dim, idx.gpu)}, 0, 0,
                   "index_select " + what);
        Shape sel = shape;
        sel[dim] = 9;
        Pair src = random_pair(gen, sel, dt, kind);
        check_pair({raw::index_add(a.cpu, dim, idx.cpu, src.cpu), raw::index_add(a.gpu, dim, idx.gpu, src.gpu)}, rtol,
                   atol, "index_add " + what);
        Shape ish{3, 4, 5};
        ish[dim] = 9;
        Pair gidx = upload(gen.randint(ish, 0, shape[dim]));
        check_pair({raw::gather(a.cpu, dim, gidx.cpu), raw::gather(a.gpu, dim, gidx.gpu)}, 0, 0, "gather " + what);
        Pair ssrc = random_pair(gen, ish, dt, kind);
        check_pair({raw::scatter_add(a.cpu, dim, gidx.cpu, ssrc.cpu), raw::scatter_add(a.gpu, dim, gidx.gpu, ssrc.gpu)},
                   rtol, atol, "scatter_add " + what);
      }
  // Many rows into few: heavy atomic contention (the MoE combine pattern).
  Pair src = upload(gen.randn({20000, 64}, DType::F32));
  Pair idx = upload(gen.randint({20000}, 0, 8));
  Pair base = upload(Tensor(raw::zeros({8, 64})));
  check_pair({raw::index_add(base.cpu, 0, idx.cpu, src.cpu), raw::index_add(base.gpu, 0, idx.gpu, src.gpu)}, 1e-4, 1e-3,
             "index_add 20000 rows into 8");
}

TEST_CASE("cuda: an index out of range on the device is reported at the next synchronisation") {
  Tensor a = raw::to(raw::arange(10, DType::F32), kCuda);
  Tensor bad = raw::to(raw::from_vector<int64_t>({1, 12, 3}, {3}), kCuda);
  Tensor out = raw::index_select(a, 0, bad);  // device indices are not range-checked on the host
  CHECK_THROWS_AS(out.to_vector<float>(), Error);
  // The flag is cleared: later work runs normally.
  Tensor good = raw::to(raw::from_vector<int64_t>({1, 2, 3}, {3}), kCuda);
  CHECK(raw::index_select(a, 0, good).to_vector<float>() == std::vector<float>{1, 2, 3});
}

// ---------------------------------------------------------------------------------------------
// Top-k and sort

TEST_CASE("cuda: topk and sort on short, medium and long rows with ties, signed zeros and NaN") {
  Generator gen(13);
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (int64_t n : {1, 8, 40, 300, 3000, 5000, 20000})
      for (bool largest : {true, false}) {
        Tensor h = random_tensor(gen, {4, n}, dt);
        if (dt != DType::I64) {  // ties (halves), signed zeros, NaN
          h = raw::to(raw::mul_scalar(raw::to(raw::to(raw::mul_scalar(h, 2.0), DType::I64), DType::F64), 0.5), dt);
          Tensor f = raw::to(h, DType::F64);
          double* p = f.data<double>();
          for (int64_t i = 0; i < f.numel(); i += 5) p[i] = (i / 5) % 2 ? -0.0 : 0.0;
          for (int64_t i = 3; i < f.numel(); i += 101) p[i] = std::numeric_limits<double>::quiet_NaN();
          h = raw::to(f, dt);
        }
        Pair a = upload(h);
        for (int64_t k : {int64_t(1), std::min<int64_t>(2, n), (n + 1) / 2, n}) {
          raw::ValuesIndices c = raw::topk(a.cpu, k, -1, largest), g = raw::topk(a.gpu, k, -1, largest);
          const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                                   (largest ? " largest" : " smallest");
          check_close(g.values, c.values, 0, 0, "topk values " + what);
          check_close(g.indices, c.indices, 0, 0, "topk indices " + what);
        }
        raw::ValuesIndices c = raw::sort(a.cpu, -1, largest), g = raw::sort(a.gpu, -1, largest);
        check_close(g.values, c.values, 0, 0, std::string("sort values ") + dtype_name(dt) + " n=" + std::to_string(n));
        check_close(g.indices, c.indices, 0, 0,
                    std::string("sort indices ") + dtype_name(dt) + " n=" + std::to_string(n));
      }
  // Along a non-last dim (the op moves it last and makes it contiguous).
  Pair a = upload(gen.randn({50, 6}, DType::F32));
  raw::ValuesIndices c = raw::topk(a.cpu, 3, 0, true), g = raw::topk(a.gpu, 3, 0, true);
  check_close(g.values, c.values, 0, 0, "topk along dim 0");
  check_close(g.indices, c.indices, 0, 0, "topk indices along dim 0");
}

// ---------------------------------------------------------------------------------------------
// Random numbers and the optimizer step

TEST_CASE("cuda: Philox uniform and normal draws equal the CPU's for the same seed and offset") {
  for (DType dt : {DType::F32, DType::F64}) {
    Generator gc(1234, 99), gg(1234, 99);
    Tensor uc = gc.uniform({100003}, -2.0, 3.0, dt), ug = gg.uniform({100003}, -2.0, 3.0, dt, kCuda);
    Tensor nc = gc.normal({4097}, 0.5, 2.0, dt), ng = gg.normal({4097}, 0.5, 2.0, dt, kCuda);
    CHECK(gc.offset() == gg.offset());
    // Same 32-bit draws; the double-precision transforms may differ in their last bit on the GPU.
    const double rtol = dt == DType::F32 ? 1e-7 : 1e-14;
    check_close(ug, uc, rtol, rtol, std::string("uniform ") + dtype_name(dt));
    check_close(ng, nc, rtol * 10, rtol * 10, std::string("normal ") + dtype_name(dt));
  }
}

TEST_CASE("cuda: fused AdamW steps") {
  Generator gen(14);
  for (DType dt : {DType::F32, DType::F64}) {
    Pair p = upload(gen.randn({3001}, dt)), m = upload(raw::zeros({3001}, dt)), v = upload(raw::zeros({3001}, dt));
    for (int64_t step = 1; step <= 5; ++step) {
      Pair g = upload(gen.randn({3001}, dt));
      test::cpu_kernel(nn::fused::adamw_op)(p.cpu, g.cpu, m.cpu, v.cpu, 1e-2, 0.9, 0.999, 1e-8, 0.05, step, 0.7);
      test::cuda_kernel(nn::fused::adamw_op)(p.gpu, g.gpu, m.gpu, v.gpu, 1e-2, 0.9, 0.999, 1e-8, 0.05, step, 0.7);
    }
    check_pair(p, rtol_for(dt), atol_for(dt), std::string("adamw param ") + dtype_name(dt));
    check_pair(m, rtol_for(dt), atol_for(dt), std::string("adamw m ") + dtype_name(dt));
    check_pair(v, rtol_for(dt), atol_for(dt), std::string("adamw v ") + dtype_name(dt));
  }
}

TEST_CASE("cuda: the sum of squares of many tensors (both float types, views, empties) matches the CPU") {
  Generator gen(19);
  std::vector<Pair> ps;
  for (int i = 0; i < 150; ++i)  // more tensors than one launch takes
    ps.push_back(upload(random_tensor(gen, {1 + 37 * (i % 7), 3}, i % 3 ? DType::F32 : DType::F64, 1.0)));
  ps.push_back(upload(random_tensor(gen, {(int64_t(1) << 21) + 5}, DType::F32, 1.0)));  // capped blocks
  ps.push_back(view(upload(random_tensor(gen, {40, 50}, DType::F32, 1.0)),
                    [](const Tensor& t) { return raw::transpose(t, 0, 1); }));
  ps.push_back(upload(raw::zeros({0})));
  std::vector<Tensor> c, d;
  for (const Pair& p : ps) {
    c.push_back(p.cpu);
    d.push_back(p.gpu);
  }
  const double want = nn::fused::sum_of_squares(c), got = nn::fused::sum_of_squares(d);
  CHECK(got == doctest::Approx(want).epsilon(1e-12));
  CHECK(nn::fused::sum_of_squares(d) == got);  // a fixed order: bit for bit
  CHECK(nn::fused::sum_of_squares({d.back()}) == 0.0);
}

// ---------------------------------------------------------------------------------------------
// End to end through autograd

TEST_CASE("cuda: a small network's loss and gradients match the CPU") {
  Generator gen(15);
  Tensor xh = gen.randn({16, 24}), w1h = raw::mul_scalar(gen.randn({24, 32}), 0.2),
         w2h = raw::mul_scalar(gen.randn({32, 10}), 0.2);
  auto run = [&](Device dev) {
    Tensor x = raw::to(xh, dev), w1 = raw::to(w1h, dev), w2 = raw::to(w2h, dev);
    w1.set_requires_grad(true);
    w2.set_requires_grad(true);
    Tensor h = gelu_tanh(layer_norm(matmul(x, w1), 1e-5));
    Tensor loss = sum(log_softmax(matmul(h, w2), -1) * -1.0) / 16.0;
    loss.backward();
    return std::vector<Tensor>{loss, w1.grad(), w2.grad()};
  };
  std::vector<Tensor> c = run(Device::cpu()), g = run(kCuda);
  const char* names[] = {"loss", "grad w1", "grad w2"};
  for (int i = 0; i < 3; ++i) check_close(g[i], c[i], 1e-4, 1e-5, std::string("network ") + names[i]);
}

// ---------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  // The backend must be registered whether or not a GPU is present (a static initializer in cuda/backend.cpp).
  try {
    backend_for(kCuda);
  } catch (const Error& e) {
    if (std::strstr(e.what(), "no CUDA backend")) {
      std::printf("FAILED: this binary links promoe_cuda but the CUDA backend is not registered: %s\n", e.what());
      return 1;
    }
  }
  if (!cuda_available()) {
    std::printf("SKIPPED: no CUDA GPU (the CUDA backend is registered; these tests need a GPU)\n");
    return 0;
  }
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  std::printf("cuda memory: %zu bytes in use, peak %zu, %zu cached\n", gpu_be().current_bytes(), gpu_be().peak_bytes(),
              cuda::cached_bytes());
  return rc;
}
