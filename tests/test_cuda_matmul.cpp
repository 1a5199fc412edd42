// Matrix products on the GPU against the CPU (label `cuda`, part of cuda_tests): 1-D, 2-D, batched
// and broadcast products with transposed operands, the backend matmul with alpha and beta into
// column-major or copied outputs, grouped products, and bf16 products against the CPU's bf16
// reference. Tolerance: K * eps * (|A| @ |B|) per element.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda_pair_util.h"
#include "fused_ops.h"
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tensor/random.h"

using namespace promoe;
using namespace promoe::test;

namespace {

// |gpu - cpu| <= 2 K eps (|A| @ |B|): the error bound of a K-term dot product in either order.
void check_matmul(const Tensor& gpu, const Tensor& cpu, const Tensor& a, const Tensor& b, int64_t K, double alpha,
                  const std::string& what) {
  const double eps = a.dtype() == DType::F32 ? 6e-8 : 1.2e-16;
  Tensor abs_ab = raw::matmul(raw::unary(UnaryOp::Abs, raw::to(a, DType::F64, Device::cpu())),
                              raw::unary(UnaryOp::Abs, raw::to(b, DType::F64, Device::cpu())));
  abs_ab = raw::contiguous(raw::expand(abs_ab, cpu.shape()));
  std::vector<double> tol = abs_ab.to_vector<double>();
  for (double& t : tol) t = 2.0 * double(K + 2) * eps * std::abs(alpha) * t + 1e-30;
  check_close(gpu, cpu, eps, 0, what, &tol);
}

}  // namespace

TEST_CASE("cuda: matmul 1-D, 2-D, batched and broadcast, with transposed operands") {
  Generator gen(8);
  struct Case {
    Shape a, b;
    bool ta, tb;  // pass the operand as the transpose of a contiguous tensor
  };
  const Case cases[] = {{{5}, {5}, false, false},
                        {{4, 5}, {5}, false, false},
                        {{5}, {5, 3}, false, false},
                        {{4, 5}, {5, 3}, false, false},
                        {{4, 5}, {5, 3}, true, false},
                        {{4, 5}, {5, 3}, false, true},
                        {{4, 5}, {5, 3}, true, true},
                        {{2, 3, 4, 5}, {5, 6}, false, false},
                        {{2, 3, 4, 5}, {3, 5, 6}, true, true},
                        {{3, 1, 4, 5}, {2, 5, 6}, false, true},
                        {{64, 1000}, {1000, 48}, false, false},
                        {{7, 130, 257}, {7, 257, 33}, true, false},
                        {{1, 1}, {1, 1}, false, false},
                        {{4, 1}, {1, 3}, false, false}};
  for (DType dt : {DType::F32, DType::F64})
    for (const Case& c : cases) {
      auto make = [&](const Shape& s, bool t) {
        if (!t || s.size() < 2) return upload(random_tensor(gen, s, dt, 1.0));
        Shape st = s;
        std::swap(st[st.size() - 1], st[st.size() - 2]);
        return view(upload(random_tensor(gen, st, dt, 1.0)), [](const Tensor& x) { return raw::transpose(x, -1, -2); });
      };
      Pair a = make(c.a, c.ta), b = make(c.b, c.tb);
      Tensor oc = raw::matmul(a.cpu, b.cpu), og = raw::matmul(a.gpu, b.gpu);
      check_matmul(og, oc, a.cpu, b.cpu, c.a.back(), 1.0,
                   "matmul " + shape_str(c.a) + (c.ta ? "^T" : "") + " @ " + shape_str(c.b) + (c.tb ? "^T" : "") + " " +
                       dtype_name(dt));
    }
}

TEST_CASE("cuda: backend matmul with alpha, beta and outputs that are column-major or need a copy") {
  Generator gen(9);
  for (DType dt : {DType::F32, DType::F64})
    for (int out_kind = 0; out_kind < 3; ++out_kind)
      for (int a_kind = 0; a_kind < 3; ++a_kind) {
        const int64_t B = 3, M = 17, K = 33, N = 9;
        Pair a;
        if (a_kind == 0)
          a = upload(random_tensor(gen, {B, M, K}, dt, 1.0));
        else if (a_kind == 1)
          a = view(upload(random_tensor(gen, {B, K, M}, dt, 1.0)),
                   [](const Tensor& t) { return raw::transpose(t, 1, 2); });
        else  // stride 2 along K: neither layout, copied
          a = view(upload(random_tensor(gen, {B, M, 2 * K}, dt, 1.0)), [&](const Tensor& t) {
            return Tensor::view_of(t, {B, M, K}, {M * 2 * K, 2 * K, 2}, t.offset());
          });
        Pair b = view(upload(random_tensor(gen, {1, K, N}, dt, 1.0)), [&](const Tensor& t) {
          return raw::expand(t, {B, K, N});
        });
        Pair init = upload(random_tensor(gen, {B, M, N}, dt, 1.0));
        Pair out;
        if (out_kind == 0)
          out = view(init, [](const Tensor& t) { return raw::clone(t); });
        else if (out_kind == 1)
          out = view(empty_pair({B, N, M}, dt), [](const Tensor& t) { return raw::transpose(t, 1, 2); });
        else
          out = view(empty_pair({B, M, 2 * N}, dt), [&](const Tensor& t) {
            return Tensor::view_of(t, {B, M, N}, {M * 2 * N, 2 * N, 2}, 0);
          });
        if (out_kind != 0) {
          raw::copy_(out.cpu, init.cpu);
          raw::copy_(out.gpu, init.gpu);
        }
        cpu_be().matmul(out.cpu, a.cpu, b.cpu, 1.5, 0.5);
        gpu_be().matmul(out.gpu, a.gpu, b.gpu, 1.5, 0.5);
        // K = 33 terms of magnitude ~1: f32 results agree to a few 1e-6 (bound ~1e-4).
        check_close(out.gpu, out.cpu, dt == DType::F32 ? 1e-5 : 1e-12, dt == DType::F32 ? 2e-4 : 1e-12,
                    std::string("backend matmul out kind ") + std::to_string(out_kind) + " a kind " +
                        std::to_string(a_kind) + " " + dtype_name(dt));
      }
}

TEST_CASE("cuda: grouped products of any layouts, outputs in one buffer, match the CPU") {
  Generator gen(16);
  for (DType dt : {DType::F32, DType::F64}) {
    // Expert-like products of varying rows (one empty, one of a single row), transposed and
    // windowed operands; outputs are row windows of one buffer, a column-major view, and a view
    // of stride 2 that needs matmul()'s copy.
    const int64_t K = 40, N = 24;
    const std::vector<int64_t> rows{7, 0, 1, 130, 33, 5, 64, 2};
    int64_t total = 0;
    for (int64_t m : rows) total += m;
    Pair buf = upload(raw::zeros({total + 3, N}, dt));
    Pair w_all = upload(random_tensor(gen, {int64_t(rows.size()), N, K}, dt, 1.0));
    std::vector<Pair> outs, as, bs;
    int64_t at = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t m = rows[i];
      auto transposed = [](const Tensor& t) { return raw::transpose(t, 0, 1); };
      if (i % 3 == 1)
        as.push_back(view(upload(random_tensor(gen, {K, m}, dt, 1.0)), transposed));
      else
        as.push_back(view(upload(random_tensor(gen, {m, K + 2}, dt, 1.0)),
                          [&](const Tensor& t) { return raw::narrow(t, 1, 1, K); }));
      bs.push_back(view(w_all, [&](const Tensor& t) { return transposed(raw::select(t, 0, int64_t(i))); }));
      if (i == 4)
        outs.push_back(view(empty_pair({N, m}, dt), transposed));
      else if (i == 5)
        outs.push_back(view(empty_pair({m, 2 * N}, dt), [&](const Tensor& t) {
          return Tensor::view_of(t, {m, N}, {2 * N, 2}, 0);
        }));
      else
        outs.push_back(view(buf, [&](const Tensor& t) { return raw::narrow(t, 0, at, m); }));
      at += m;
    }
    const std::vector<Tensor> oc = side(outs, false), og = side(outs, true), ac = side(as, false), bc = side(bs, false);
    moe::fused::grouped_matmul_into(oc, ac, bc);
    moe::fused::grouped_matmul_into(og, side(as, true), side(bs, true));
    for (size_t i = 0; i < rows.size(); ++i)
      check_matmul(raw::contiguous(og[i]), raw::contiguous(oc[i]), ac[i], bc[i], K, 1.0,
                   "grouped product " + std::to_string(i) + " " + dtype_name(dt));
    check_close(raw::narrow(buf.gpu, 0, total, 3), raw::narrow(buf.cpu, 0, total, 3), 0, 0, "rows no product owns");
  }
}

// bf16 mixed precision: cuBLAS's FAST_16BF compute type rounds the f32 operands to bf16 as the CPU
// reference does, so both sides multiply the same values and only the f32 accumulation order
// differs (the K-term bound above); the fp32 GPU result differs by bf16 noise (~1e-2 here).
TEST_CASE("cuda: bf16 matmul and grouped products equal the CPU's bf16 reference") {
  Generator gen(18);
  auto t_view = [](const Tensor& t) { return raw::transpose(t, -1, -2); };
  struct Case {
    Pair a, b;
    std::string name;
  };
  std::vector<Case> cases;
  cases.push_back({upload(random_tensor(gen, {64, 256}, DType::F32, 1.0)),
                   upload(random_tensor(gen, {256, 96}, DType::F32, 1.0)), "2-D"});
  cases.push_back({view(upload(random_tensor(gen, {256, 64}, DType::F32, 1.0)), t_view),
                   view(upload(random_tensor(gen, {96, 256}, DType::F32, 1.0)), t_view), "2-D transposed"});
  cases.push_back({upload(random_tensor(gen, {3, 4, 32, 128}, DType::F32, 1.0)),
                   view(upload(random_tensor(gen, {4, 48, 128}, DType::F32, 1.0)), t_view), "batched, broadcast"});
  cases.push_back({upload(random_tensor(gen, {7, 130, 257}, DType::F32, 1.0)),
                   upload(random_tensor(gen, {7, 257, 33}, DType::F32, 1.0)), "batched, odd sizes"});
  for (const Case& c : cases) {
    Tensor fp32 = raw::matmul(c.a.gpu, c.b.gpu);
    GemmPrecisionGuard guard(GemmPrecision::BF16);
    Tensor oc = raw::matmul(c.a.cpu, c.b.cpu), og = raw::matmul(c.a.gpu, c.b.gpu);
    check_matmul(og, oc, c.a.cpu, c.b.cpu, c.a.cpu.size(-1), 1.0, "bf16 matmul " + c.name);
    const std::vector<double> x = og.to_vector<double>(), y = fp32.to_vector<double>();
    double diff = 0;
    for (size_t i = 0; i < x.size(); ++i) diff = std::max(diff, std::abs(x[i] - y[i]));
    CHECK_MESSAGE(diff > 1e-3, "bf16 matmul " << c.name << " is within " << diff << " of fp32");
  }

  // Expert-like grouped products (one empty, one of a single row) against (out, in) weights.
  const int64_t K = 128, N = 64;
  const std::vector<int64_t> rows{16, 0, 1, 130, 48, 64};
  Pair w_all = upload(random_tensor(gen, {int64_t(rows.size()), N, K}, DType::F32, 1.0));
  std::vector<Tensor> oc, og, ac, ag, bc, bg;
  for (size_t i = 0; i < rows.size(); ++i) {
    Pair a = upload(random_tensor(gen, {rows[i], K}, DType::F32, 1.0));
    Pair b = view(w_all, [&](const Tensor& t) { return raw::transpose(raw::select(t, 0, int64_t(i)), 0, 1); });
    ac.push_back(a.cpu);
    ag.push_back(a.gpu);
    bc.push_back(b.cpu);
    bg.push_back(b.gpu);
    oc.push_back(Tensor::empty({rows[i], N}));
    og.push_back(Tensor::empty({rows[i], N}, DType::F32, kCuda));
  }
  GemmPrecisionGuard guard(GemmPrecision::BF16);
  moe::fused::grouped_matmul_into(oc, ac, bc);
  moe::fused::grouped_matmul_into(og, ag, bg);
  for (size_t i = 0; i < rows.size(); ++i)
    check_matmul(og[i], oc[i], ac[i], bc[i], K, 1.0, "bf16 grouped product " + std::to_string(i));
}
