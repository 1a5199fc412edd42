// The DiT's building blocks against the spec's test vectors (docs/PROMOE.md §1.2, §1.3), its token
// orderings (§1.1, §1.8), official parameter names, and adaLN-Zero initialisation.
#include <doctest/doctest.h>

#include <cmath>
#include <type_traits>

#include "autograd/ops.h"
#include "nn/dit.h"

using namespace promoe;

namespace {
void check_close(const std::vector<float>& got, const std::vector<double>& want, double tol = 1e-6) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK_MESSAGE(std::abs(got[i] - want[i]) <= tol, "element " << i);
}
}  // namespace

// A copied module would share its parameters with the original; modules are not copyable.
static_assert(!std::is_copy_constructible_v<nn::Linear> && !std::is_copy_assignable_v<nn::Linear>);
static_assert(!std::is_copy_constructible_v<nn::DiT>);

TEST_CASE("2-D sin-cos positions: column first, sines then cosines (spec test vector, D = 8, 2x2 grid)") {
  Tensor p = nn::sincos_pos_embed_2d(8, 2);
  REQUIRE(p.shape() == Shape{4, 8});
  check_close(raw::select(p, 0, 0).to_vector<float>(), {0, 0, 1, 1, 0, 0, 1, 1});
  check_close(raw::select(p, 0, 1).to_vector<float>(), {0.841471, 0.010000, 0.540302, 0.999950, 0, 0, 1, 1});
  check_close(raw::select(p, 0, 2).to_vector<float>(), {0, 0, 1, 1, 0.841471, 0.010000, 0.540302, 0.999950});
}

TEST_CASE("timestep frequency embedding: cos first (spec test vector, t = 500)") {
  std::vector<float> e = nn::timestep_frequency_embedding(raw::from_vector<float>({500.0f}, {1})).to_vector<float>();
  REQUIRE(e.size() == 256);
  // f32 arguments up to 500 carry an absolute rounding error near 3e-5, as in PyTorch.
  const double tol = 1e-4;
  CHECK(std::abs(e[0] - -0.883849) < tol);
  CHECK(std::abs(e[1] - 0.945943) < tol);
  CHECK(std::abs(e[2] - 0.848515) < tol);
  CHECK(std::abs(e[127] - 0.998557) < tol);
  CHECK(std::abs(e[128] - -0.467772) < tol);
  CHECK(std::abs(e[129] - 0.324334) < tol);
  CHECK(std::abs(e[130] - -0.529172) < tol);
  CHECK(std::abs(e[255] - 0.053705) < tol);
}

TEST_CASE("patch embedding flattens (c, ky, kx) and tokens run row-major over patches") {
  Generator gen(0);
  nn::PatchEmbed pe(2, 3, 2, gen);  // C = 2, D = 3, p = 2
  // Weight picks one input element per output channel: channel 1, ky 0, kx 1 -> flat index 5.
  raw::fill_(pe.weight, 0.0);
  raw::fill_(pe.bias, 0.0);
  raw::fill_(raw::select(raw::reshape(pe.weight, {3, 8}), 1, 5), 1.0);
  std::vector<float> x(2 * 4 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);  // x[c][h][w] = c*16 + h*4 + w
  Tensor out = pe.forward(raw::from_vector<float>(x, {1, 2, 4, 4}));
  REQUIRE(out.shape() == Shape{1, 4, 3});
  // token n = i*2 + j reads x[1][2i][2j + 1] = 16 + 8i + 2j + 1
  std::vector<float> v = out.to_vector<float>();
  CHECK(v[0 * 3] == 17);
  CHECK(v[1 * 3] == 19);
  CHECK(v[2 * 3] == 25);
  CHECK(v[3 * 3] == 27);
}

TEST_CASE("the dense DiT has the official parameter names and zero-initialised adaLN and final layers") {
  nn::DiTConfig cfg;
  cfg.input_size = 8;
  cfg.in_channels = 4;
  cfg.hidden_size = 32;
  cfg.depth = 2;
  cfg.num_heads = 2;
  cfg.num_classes = 10;
  nn::DiT model(cfg, 1);
  model.train(false);
  std::vector<std::string> names;
  for (auto& [n, t] : model.state_dict()) names.push_back(n);
  for (const char* want : {"pos_embed", "x_embedder.proj.weight", "t_embedder.mlp.0.weight", "t_embedder.mlp.2.bias",
                           "y_embedder.embedding_table.weight", "blocks.0.attn.qkv.weight", "blocks.1.attn.proj.bias",
                           "blocks.1.mlp.fc1.weight", "blocks.0.mlp.fc2.bias", "blocks.0.adaLN_modulation.1.weight",
                           "final_layer.adaLN_modulation.1.bias", "final_layer.linear.weight"})
    CHECK_MESSAGE(std::find(names.begin(), names.end(), want) != names.end(), want);
  CHECK(model.y_embedder->table.shape() == Shape{11, 32});
  // adaLN-Zero: a fresh model is the identity on its blocks and outputs zeros.
  Generator gen(2);
  Tensor out = model.forward(gen.randn({2, 4, 8, 8}), raw::from_vector<float>({10.f, 500.f}, {2}),
                             raw::from_vector<int64_t>({3, 10}, {2}));
  CHECK(out.shape() == Shape{2, 8, 8, 8});
  CHECK(raw::reduce(ReduceOp::Max, raw::unary(UnaryOp::Abs, out), {}, false).item() == 0.0);
}

TEST_CASE("unpatchify places token (i, j) element (py, px, c) at pixel (c, 2i + py, 2j + px)") {
  nn::DiTConfig cfg;
  cfg.input_size = 4;
  cfg.in_channels = 1;
  cfg.hidden_size = 8;
  cfg.depth = 1;
  cfg.num_heads = 2;
  cfg.num_classes = 2;
  nn::DiT model(cfg, 1);  // C_out = 2, p = 2: each token holds 8 values
  model.train(false);
  // Make the final linear output its bias, and the bias an index pattern (py, px, c) -> py*4 + px*2 + c.
  std::vector<float> bias{0, 1, 2, 3, 4, 5, 6, 7};
  raw::copy_(*model.final_layer->linear->bias, raw::from_vector<float>(bias, {8}));
  Tensor out = model.forward(raw::zeros({1, 1, 4, 4}), raw::zeros({1}), raw::zeros({1}, DType::I64));
  std::vector<float> v = out.to_vector<float>();  // (1, 2, 4, 4)
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) CHECK(v[(c * 4 + y) * 4 + x] == float((y % 2) * 4 + (x % 2) * 2 + c));
}
