// The CUDA backend against the CPU backend (label `cuda`) where the table-driven boundary test
// (tests/test_unit_boundary.cpp, which runs every primitive and fused op on every backend) does not
// reach: the allocator, large and empty reductions, ties, NaN and signed zeros, out-of-range
// indices, sums of squares over views and empties, and a network end to end. Tolerances by dtype
// (f32 ~1e-5 relative, f64 ~1e-12, integers and bf16 exact); the matrix products' tests are in
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
// The sum of squares

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
