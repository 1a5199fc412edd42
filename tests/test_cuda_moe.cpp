// The expert bank on the GPU against the CPU (label `cuda`, part of cuda_tests): grouped linear
// layers with their bias (+ GELU) epilogue, the grouped bias + GELU backward, and the whole
// dispatch op with a shared expert, forward and every gradient.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/ops.h"
#include "cuda_pair_util.h"
#include "fused_ops.h"
#include "moe/dispatch.h"
#include "tensor/random.h"

using namespace promoe;
using namespace promoe::test;

namespace {

// Row segments [at, at + rows[i]) of t, as the dispatch cuts its sorted buffers.
std::vector<Tensor> segments(const Tensor& t, const std::vector<int64_t>& rows) {
  std::vector<Tensor> v;
  int64_t at = 0;
  for (int64_t n : rows) {
    v.push_back(raw::narrow(t, 0, at, n));
    at += n;
  }
  return v;
}

}  // namespace

TEST_CASE("cuda: grouped linear layers and the grouped bias + GELU backward match the CPU") {
  Generator gen(41);
  const std::vector<int64_t> rows{5, 0, 300, 1, 77};
  const int64_t D = 48, I = 96, A = 383;
  for (DType dt : {DType::F32, DType::F64}) {
    const std::string what = dtype_name(dt);
    Pair X = upload(random_tensor(gen, {A, D}, dt, 1.0)), G = upload(random_tensor(gen, {A, I}, dt, 1.0));
    std::vector<Pair> w, b, gb;
    for (size_t i = 0; i < rows.size(); ++i) {
      w.push_back(
          view(upload(random_tensor(gen, {I, D}, dt, 0.3)), [](const Tensor& t) { return raw::transpose(t, 0, 1); }));
      b.push_back(upload(random_tensor(gen, {I}, dt, 1.0)));
      gb.push_back(empty_pair({I}, dt));
    }
    Pair pre = empty_pair({A, I}, dt), gelu = empty_pair({A, I}, dt), lin = empty_pair({A, I}, dt),
         gpre = empty_pair({A, I}, dt);
    for (bool gpu : {false, true}) {
      auto of = [&](const Pair& p) { return gpu ? p.gpu : p.cpu; };
      moe::fused::grouped_linear_into(segments(of(pre), rows), segments(of(X), rows), side(w, gpu), side(b, gpu),
                                      segments(of(gelu), rows));
      moe::fused::grouped_linear_into(segments(of(lin), rows), segments(of(X), rows), side(w, gpu), side(b, gpu));
      moe::fused::grouped_bias_gelu_backward_into(segments(of(gpre), rows), side(gb, gpu), segments(of(G), rows),
                                                  segments(of(pre), rows));
    }
    const double mm_tol = dt == DType::F32 ? 1e-4 : 1e-11;  // sums of D products
    check_pair(pre, mm_tol, mm_tol, "grouped linear + GELU, pre-activations " + what);
    check_pair(gelu, mm_tol, mm_tol, "grouped linear + GELU, outputs " + what);
    check_pair(lin, mm_tol, mm_tol, "grouped linear + bias " + what);
    check_pair(gpre, mm_tol, mm_tol, "grouped GELU backward " + what);
    for (size_t i = 0; i < rows.size(); ++i)
      check_pair(gb[i], mm_tol, mm_tol * double(rows[i] + 1),
                 "grouped bias gradient " + std::to_string(i) + " " + what);
  }
}

TEST_CASE("cuda: dispatch with a shared expert matches the CPU, forward and every gradient") {
  Generator gen(42);
  const int64_t T = 200, D = 32, I = 48, Is = 64, E = 5;
  Tensor U = gen.randn({T, D});
  std::vector<int64_t> tok, ex;
  for (int64_t t = 0; t < T; ++t) {  // top-1 over experts 0..3 (expert 4 idle), every 7th token top-2
    tok.push_back(t);
    ex.push_back(t % 4);
    if (t % 7 == 0) {
      tok.push_back(t);
      ex.push_back((t + 1) % 4);
    }
  }
  Tensor weight = raw::unary(UnaryOp::Sigmoid, gen.randn({int64_t(tok.size())}), 0, 0);
  std::vector<Tensor> params;
  for (int64_t e = 0; e <= E; ++e) {
    const int64_t width = e == E ? Is : I;
    for (const Shape& s : {Shape{width, D}, Shape{width}, Shape{D, width}, Shape{D}})
      params.push_back(raw::mul_scalar(gen.randn(s), 0.2));
  }
  Tensor g = gen.randn({T, D});
  auto run = [&](Device dev) {
    auto leaf = [&](const Tensor& t) { return raw::to(raw::clone(t), dev); };  // never shared between runs
    std::vector<Tensor> leaves{leaf(U), leaf(weight)};
    for (const Tensor& p : params) leaves.push_back(leaf(p));
    for (Tensor& l : leaves) l.set_requires_grad(true);
    std::vector<moe::ExpertWeights> experts;
    for (int64_t e = 0; e < E; ++e)
      experts.push_back({leaves[2 + 4 * e], leaves[3 + 4 * e], leaves[4 + 4 * e], leaves[5 + 4 * e]});
    const moe::ExpertWeights shared{leaves[2 + 4 * E], leaves[3 + 4 * E], leaves[4 + 4 * E], leaves[5 + 4 * E]};
    Tensor O = moe::dispatch(leaves[0], moe::make_assignments(tok, ex, leaves[1]), experts, &shared);
    sum(O * raw::to(g, dev)).backward();
    std::vector<Tensor> out{O.detach()};
    for (const Tensor& l : leaves) out.push_back(l.grad());
    return out;
  };
  const std::vector<Tensor> c = run(Device::cpu()), d = run(kCuda);
  for (size_t i = 0; i < c.size(); ++i) {
    REQUIRE_MESSAGE(d[i].defined(), "output or gradient " << i);
    check_close(d[i], c[i], 1e-4, 1e-4, "dispatch output or gradient " + std::to_string(i));
  }
}
