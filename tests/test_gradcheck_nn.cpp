// The fused layer ops (hand-written backward) against their composed versions, in double.
#include <doctest/doctest.h>

#include "autograd/gradcheck.h"
#include "nn/dit.h"
#include "nn/functional.h"

using namespace promoe;

TEST_CASE("fused attention equals the composed version and passes gradcheck") {
  Generator gen(5);
  Tensor qkv = gen.randn({2, 5, 3 * 8}, DType::F64);  // B = 2, N = 5, D = 8, 2 heads of 4
  qkv.set_requires_grad(true);
  Tensor fused = nn::attention(qkv, 2), composed = nn::attention_reference(qkv, 2);
  CHECK(raw::reduce(ReduceOp::Max, raw::unary(UnaryOp::Abs, raw::sub(fused, composed)), {}, false).item() < 1e-12);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return nn::attention(in[0], 2); }, {qkv});
  CHECK_MESSAGE(r.ok, r.report);
  // The same check fed a non-contiguous qkv (a transposed view).
  Tensor t = gen.randn({2, 3 * 8, 5}, DType::F64);
  t.set_requires_grad(true);
  r = gradcheck([](const std::vector<Tensor>& in) { return nn::attention(transpose(in[0], 1, 2), 2); }, {t});
  CHECK_MESSAGE(r.ok, r.report);
}

namespace {
double max_abs_diff(const Tensor& a, const Tensor& b) {
  return raw::reduce(ReduceOp::Max, raw::unary(UnaryOp::Abs, raw::sub(a, b)), {}, false).item();
}
}  // namespace

TEST_CASE("fused LayerNorm + modulate and gated residual equal the composed versions and pass gradcheck") {
  Generator gen(9);
  for (int64_t B : {1, 3}) {
    CAPTURE(B);
    Tensor x = gen.randn({B, 4, 6}, DType::F64), shift = gen.randn({B, 6}, DType::F64),
           scale = gen.randn({B, 6}, DType::F64), gate = gen.randn({B, 6}, DType::F64),
           y = gen.randn({B, 4, 6}, DType::F64);
    for (Tensor* t : {&x, &shift, &scale, &gate, &y}) t->set_requires_grad(true);
    CHECK(max_abs_diff(nn::layer_norm_modulate(x, shift, scale, 1e-6),
                       nn::modulate(layer_norm(x, 1e-6), shift, scale)) < 1e-12);
    CHECK(max_abs_diff(nn::gated_residual(x, gate, y), x + unsqueeze(gate, 1) * y) < 1e-12);
    auto r = gradcheck([](const std::vector<Tensor>& in) { return nn::layer_norm_modulate(in[0], in[1], in[2], 1e-6); },
                       {x, shift, scale});
    CHECK_MESSAGE(r.ok, r.report);
    r = gradcheck([](const std::vector<Tensor>& in) { return nn::gated_residual(in[0], in[1], in[2]); }, {x, gate, y});
    CHECK_MESSAGE(r.ok, r.report);
    // Per-image vectors as strided chunks of one (B, 2D) tensor, as the adaLN projection gives them.
    Tensor both = gen.randn({B, 12}, DType::F64);
    both.set_requires_grad(true);
    r = gradcheck(
        [](const std::vector<Tensor>& in) {
          std::vector<Tensor> m = chunk(in[1], 2, 1);
          return nn::gated_residual(in[0], m[0], nn::layer_norm_modulate(in[0], m[0], m[1], 1e-6));
        },
        {x, both});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("fused linear + GELU equals gelu_tanh(linear) and passes gradcheck") {
  Generator gen(10);
  Tensor x = gen.randn({2, 3, 4}, DType::F64), w = gen.randn({5, 4}, DType::F64), b = gen.randn({5}, DType::F64);
  for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
  CHECK(max_abs_diff(nn::linear_gelu(x, w, b), gelu_tanh(nn::linear(x, w, b))) < 1e-12);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return nn::linear_gelu(in[0], in[1], in[2]); }, {x, w, b});
  CHECK_MESSAGE(r.ok, r.report);
  // Many rows: the bias gradient sums over several row blocks.
  Tensor xl = gen.randn({150, 3}, DType::F64), wl = gen.randn({2, 3}, DType::F64), bl = gen.randn({2}, DType::F64);
  for (Tensor* t : {&xl, &wl, &bl}) t->set_requires_grad(true);
  r = gradcheck([](const std::vector<Tensor>& in) { return nn::linear_gelu(in[0], in[1], in[2]); }, {xl, wl, bl});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("fused linear passes gradcheck for x, weight and bias, with and without bias") {
  Generator gen(6);
  Tensor x = gen.randn({2, 3, 4}, DType::F64), w = gen.randn({5, 4}, DType::F64), b = gen.randn({5}, DType::F64);
  for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return nn::linear(in[0], in[1], in[2]); }, {x, w, b});
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const std::vector<Tensor>& in) { return nn::linear(in[0], in[1], Tensor()); }, {x, w});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("a whole DiT block (adaLN-Zero weights made non-zero) passes gradcheck through every input") {
  nn::DiTConfig cfg;
  cfg.input_size = 4;
  cfg.in_channels = 1;
  cfg.patch_size = 2;
  cfg.hidden_size = 8;
  cfg.depth = 1;
  cfg.num_heads = 2;
  cfg.num_classes = 3;
  Generator gen(7);
  nn::DiTBlock block(cfg, std::make_shared<nn::DenseFeedForward>(8, 16, gen), gen);
  raw::copy_(block.ada->weight, gen.normal(block.ada->weight.shape(), 0, 0.3));
  block.to(DType::F64);
  Tensor x = gen.randn({2, 4, 8}, DType::F64), c = gen.randn({2, 8}, DType::F64);
  x.set_requires_grad(true);
  c.set_requires_grad(true);
  Tensor labels = raw::from_vector<int64_t>({0, 3}, {2});
  auto r = gradcheck(
      [&](const std::vector<Tensor>& in) {
        nn::ForwardContext ctx;
        return block.forward(in[0], in[1], labels, 0, ctx);
      },
      {x, c});
  CHECK_MESSAGE(r.ok, r.report);
}
