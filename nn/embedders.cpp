// Patch, position, timestep and label embedders.
#include "nn/embedders.h"

#include <cmath>

#include "nn/functional.h"
#include "nn/init.h"

namespace promoe::nn {

PatchEmbed::PatchEmbed(int64_t in_channels, int64_t hidden, int64_t p, Generator& gen)
    : patch(p),
      weight(register_parameter("proj.weight", raw::zeros({hidden, in_channels, p, p}))),
      bias(register_parameter("proj.bias", raw::zeros({hidden}))) {
  // Xavier on the (D, C*p*p) view, as the official initialize_weights does.
  Tensor flat = raw::reshape(weight, {hidden, in_channels * p * p});
  init::xavier_uniform(flat, gen);
}

Tensor PatchEmbed::forward(const Tensor& x) const {
  PROMOE_CHECK(x.dim() == 4 && x.size(1) == weight.size(1) && x.size(2) % patch == 0 && x.size(3) % patch == 0,
               "patch_embed: input ", describe(x), " is not (B, ", weight.size(1), ", H, W) with H, W multiples of ",
               patch);
  const int64_t B = x.size(0), C = x.size(1), h = x.size(2) / patch, w = x.size(3) / patch;
  // (B, C, h, p, w, p) -> (B, h, w, C, p, p): each token's patch flattened in (c, ky, kx) order.
  Tensor patches =
      reshape(permute(reshape(x, {B, C, h, patch, w, patch}), {0, 2, 4, 1, 3, 5}), {B, h * w, C * patch * patch});
  return linear(patches, reshape(weight, {weight.size(0), -1}), bias);
}

Tensor sincos_pos_embed_2d(int64_t dim, int64_t grid) {
  PROMOE_CHECK(dim % 4 == 0, "pos_embed: hidden size ", dim, " must be a multiple of 4");
  const int64_t half = dim / 2, quarter = dim / 4;
  std::vector<double> table(size_t(grid * grid * dim));
  for (int64_t i = 0; i < grid; ++i)
    for (int64_t j = 0; j < grid; ++j) {
      double* row = &table[size_t((i * grid + j) * dim)];
      const double pos[2] = {double(j), double(i)};  // column first, then row
      for (int64_t part = 0; part < 2; ++part)
        for (int64_t k = 0; k < quarter; ++k) {
          double omega = 1.0 / std::pow(10000.0, double(k) / double(quarter));
          row[part * half + k] = std::sin(pos[part] * omega);
          row[part * half + quarter + k] = std::cos(pos[part] * omega);
        }
    }
  return raw::to(raw::from_vector<double>(table, {grid * grid, dim}), DType::F32);
}

Tensor timestep_frequency_embedding(const Tensor& t, int64_t dim, double max_period) {
  const int64_t half = dim / 2;
  // freqs and products in f32, as the official code computes them.
  std::vector<float> freqs(static_cast<size_t>(half));
  const float neg_log_period = float(-std::log(max_period));
  for (int64_t k = 0; k < half; ++k) freqs[k] = std::exp(neg_log_period * float(k) / float(half));
  Tensor f = raw::to(raw::from_vector<float>(freqs, {1, half}), t.device());
  Tensor args = raw::mul(raw::unsqueeze(raw::to(t, DType::F32), 1), f);  // (B, half)
  Tensor emb = raw::cat({raw::unary(UnaryOp::Cos, args), raw::unary(UnaryOp::Sin, args)}, 1);
  if (dim % 2) emb = raw::cat({emb, raw::zeros({t.numel(), 1}, DType::F32, t.device())}, 1);
  return emb;
}

TimestepEmbedder::TimestepEmbedder(int64_t hidden, Generator& gen, int64_t fdim) : frequency_dim(fdim) {
  auto mlp = register_module("mlp", std::make_shared<Container>());
  fc1 = mlp->add("0", std::make_shared<Linear>(fdim, hidden, true, gen));
  fc2 = mlp->add("2", std::make_shared<Linear>(hidden, hidden, true, gen));
  init::normal(fc1->weight, gen, 0.02);
  init::normal(fc2->weight, gen, 0.02);
}

Tensor TimestepEmbedder::forward(const Tensor& t) const {
  return fc2->forward(silu(fc1->forward(timestep_frequency_embedding(t, frequency_dim))));
}

LabelEmbedder::LabelEmbedder(int64_t classes, int64_t hidden, double prob, Generator& gen)
    : num_classes(classes),
      dropout_prob(prob),
      table(register_parameter("embedding_table.weight", raw::zeros({classes + 1, hidden}))) {
  init::normal(table, gen, 0.02);
}

Tensor LabelEmbedder::forward(const Tensor& labels, Generator* gen, Tensor* used_labels) const {
  raw::check_index_tensor(labels, "label_embedder");
  for (int64_t y : labels.to_vector<int64_t>())
    PROMOE_CHECK(y >= 0 && y <= num_classes, "label_embedder: label ", y, " out of range [0, ", num_classes, "] (",
                 num_classes, " is the null class)");
  Tensor used = labels;
  if (is_training() && dropout_prob > 0) {
    PROMOE_CHECK(gen, "label_embedder: training with class dropout needs a generator");
    Tensor drop = raw::binary(BinaryOp::Lt, gen->uniform({labels.numel()}, 0, 1, DType::F64),
                              raw::scalar(dropout_prob, DType::F64));
    used = raw::where(raw::to(drop, labels.device()), raw::scalar(double(num_classes), DType::I64, labels.device()),
                      labels);
  }
  if (used_labels) *used_labels = used;
  return embedding(table, used);
}

}  // namespace promoe::nn
