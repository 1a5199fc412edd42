// DiT blocks with adaLN-Zero, the final layer, and the whole backbone.
#include "nn/dit.h"

#include "nn/functional.h"
#include "nn/init.h"

namespace promoe::nn {

void DiTConfig::validate() const {
  PROMOE_CHECK(in_channels > 0 && input_size > 0 && patch_size > 0, "config: sizes must be positive");
  PROMOE_CHECK(input_size % patch_size == 0, "config: input_size ", input_size, " is not a multiple of patch_size ",
               patch_size);
  PROMOE_CHECK(depth > 0, "config: depth must be positive, got ", depth);
  PROMOE_CHECK(num_heads > 0 && hidden_size % num_heads == 0, "config: hidden_size ", hidden_size,
               " is not divisible by num_heads ", num_heads);
  PROMOE_CHECK(hidden_size % 4 == 0, "config: hidden_size ", hidden_size, " must be a multiple of 4");
  PROMOE_CHECK(num_classes > 0, "config: num_classes must be positive, got ", num_classes);
  PROMOE_CHECK(class_dropout_prob >= 0 && class_dropout_prob < 1, "config: class_dropout_prob ", class_dropout_prob,
               " outside [0, 1)");
}

DenseFeedForward::DenseFeedForward(int64_t dim, int64_t hidden, Generator& gen) {
  mlp = std::make_shared<Mlp>(dim, hidden, gen);
  // Registered flat so that names read "blocks.i.mlp.fc1.weight".
  register_module("fc1", mlp->fc1);
  register_module("fc2", mlp->fc2);
}

Tensor DenseFeedForward::forward(const Tensor& u, const Tensor&, int64_t, ForwardContext&) { return mlp->forward(u); }

Attention::Attention(int64_t dim, int64_t h, Generator& gen) : heads(h) {
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, true, gen));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim, true, gen));
}

Tensor Attention::forward(const Tensor& x) const { return proj->forward(attention(qkv->forward(x), heads)); }

namespace {
std::shared_ptr<Linear> zero_adaln(Container& holder, int64_t dim, int64_t out, Generator& gen) {
  auto lin = holder.add("1", std::make_shared<Linear>(dim, out, true, gen));
  init::zeros(lin->weight);
  return lin;
}
}  // namespace

DiTBlock::DiTBlock(const DiTConfig& cfg, std::shared_ptr<FeedForward> ffn, Generator& gen) {
  const int64_t D = cfg.hidden_size;
  attn = register_module("attn", std::make_shared<Attention>(D, cfg.num_heads, gen));
  mlp = register_module("mlp", std::move(ffn));
  auto holder = register_module("adaLN_modulation", std::make_shared<Container>());
  ada = zero_adaln(*holder, D, 6 * D, gen);
}

Tensor DiTBlock::forward(const Tensor& x, const Tensor& c, const Tensor& labels, int64_t index,
                         ForwardContext& ctx) const {
  // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, each (B, D)
  std::vector<Tensor> m = chunk(ada->forward(silu(c)), 6, 1);
  Tensor h = gated_residual(x, m[2], attn->forward(layer_norm_modulate(x, m[0], m[1], 1e-6)));
  Tensor u = layer_norm_modulate(h, m[3], m[4], 1e-6);
  Tensor out = gated_residual(h, m[5], mlp->forward(u, labels, index, ctx));
  if (ctx.record) ctx.records["act.blocks." + std::to_string(index) + ".out"] = out.detach();
  return out;
}

FinalLayer::FinalLayer(int64_t hidden, int64_t patch, int64_t out_channels, Generator& gen) {
  auto holder = register_module("adaLN_modulation", std::make_shared<Container>());
  ada = zero_adaln(*holder, hidden, 2 * hidden, gen);
  linear = register_module("linear", std::make_shared<Linear>(hidden, patch * patch * out_channels, true, gen));
  init::zeros(linear->weight);
}

Tensor FinalLayer::forward(const Tensor& x, const Tensor& c) const {
  std::vector<Tensor> m = chunk(ada->forward(silu(c)), 2, 1);  // shift, scale
  return linear->forward(layer_norm_modulate(x, m[0], m[1], 1e-6));
}

DiT::DiT(const DiTConfig& cfg, uint64_t seed, const FeedForwardFactory& feed_forward)
    : config(cfg), pos_embed(register_buffer("pos_embed", raw::zeros({1, cfg.tokens(), cfg.hidden_size}))) {
  cfg.validate();
  Generator gen(seed);
  const int64_t D = cfg.hidden_size;
  raw::copy_(pos_embed, raw::unsqueeze(sincos_pos_embed_2d(D, cfg.grid()), 0));
  x_embedder = register_module("x_embedder", std::make_shared<PatchEmbed>(cfg.in_channels, D, cfg.patch_size, gen));
  t_embedder = register_module("t_embedder", std::make_shared<TimestepEmbedder>(D, gen));
  y_embedder =
      register_module("y_embedder", std::make_shared<LabelEmbedder>(cfg.num_classes, D, cfg.class_dropout_prob, gen));
  auto list = register_module("blocks", std::make_shared<Container>());
  for (int64_t i = 0; i < cfg.depth; ++i) {
    std::shared_ptr<FeedForward> ffn =
        feed_forward ? feed_forward(i, gen)
                     : std::make_shared<DenseFeedForward>(D, int64_t(double(D) * cfg.mlp_ratio), gen);
    blocks.push_back(list->add(std::to_string(i), std::make_shared<DiTBlock>(cfg, ffn, gen)));
  }
  final_layer =
      register_module("final_layer", std::make_shared<FinalLayer>(D, cfg.patch_size, cfg.out_channels(), gen));
}

Tensor DiT::unpatchify(const Tensor& tokens) const {
  // (B, N, p*p*C) with (py, px, c) per token -> (B, C, H, W)
  const int64_t B = tokens.size(0), g = config.grid(), p = config.patch_size, C = config.out_channels();
  Tensor t = reshape(tokens, {B, g, g, p, p, C});
  return reshape(permute(t, {0, 5, 1, 3, 2, 4}), {B, C, g * p, g * p});
}

Tensor DiT::forward(const Tensor& x, const Tensor& t, const Tensor& y, ForwardContext& ctx) const {
  const int64_t B = x.size(0);
  PROMOE_CHECK(x.dim() == 4 && x.size(1) == config.in_channels && x.size(2) == config.input_size &&
                   x.size(3) == config.input_size,
               "dit: input ", describe(x), " is not (B, ", config.in_channels, ", ", config.input_size, ", ",
               config.input_size, ")");
  PROMOE_CHECK(t.shape() == Shape{B} && y.shape() == Shape{B}, "dit: t ", describe(t), " and y ", describe(y),
               " must both be (", B, ")");
  Tensor h = x_embedder->forward(x) + pos_embed;
  Tensor used;
  Tensor c = t_embedder->forward(t) + y_embedder->forward(y, ctx.generator, &used);
  ctx.used_labels = used;
  for (size_t i = 0; i < blocks.size(); ++i) h = blocks[i]->forward(h, c, used, int64_t(i), ctx);
  return unpatchify(final_layer->forward(h, c));
}

Tensor DiT::forward(const Tensor& x, const Tensor& t, const Tensor& y) const {
  ForwardContext ctx;
  return forward(x, t, y, ctx);
}

int64_t DiT::activated_parameters() const {
  int64_t n = num_parameters() + pos_embed.numel();  // counted as the official code counts
  for (auto& b : blocks) n -= b->mlp->num_parameters() - b->mlp->activated_parameters();
  return n;
}

}  // namespace promoe::nn
