// Input embedders of the DiT: patch embedding, fixed 2-D sin-cos positions, timestep and label
// embedders (docs/PROMOE.md §1.1-1.4).
#pragma once
#include "nn/layers.h"

namespace promoe::nn {

// Conv2d(C -> D, kernel = stride = p) as a matrix product over patches: (B, C, H, W) -> (B, N, D),
// tokens in row-major patch order. Weight layout (D, C, p, p) as PyTorch's conv.
class PatchEmbed : public Module {
 public:
  PatchEmbed(int64_t in_channels, int64_t hidden, int64_t patch, Generator& gen);
  Tensor forward(const Tensor& x) const;

  int64_t patch;
  Tensor& weight;  // proj.weight (D, C, p, p)
  Tensor& bias;    // proj.bias (D)
};

// Fixed (N, D) table for a grid x grid token layout: first D/2 dims encode the column, the last
// D/2 the row; each half is [sin(pos * w_k), cos(pos * w_k)] with w_k = 10000^(-k / (D/4)).
Tensor sincos_pos_embed_2d(int64_t dim, int64_t grid);

// [cos(t f_k), sin(t f_k)] with f_k = exp(-ln(10000) k / (dim/2)), t (B) float -> (B, dim).
Tensor timestep_frequency_embedding(const Tensor& t, int64_t dim = 256, double max_period = 10000.0);

class TimestepEmbedder : public Module {
 public:
  TimestepEmbedder(int64_t hidden, Generator& gen, int64_t frequency_dim = 256);
  Tensor forward(const Tensor& t) const;  // (B) -> (B, D)

  int64_t frequency_dim;
  std::shared_ptr<Linear> fc1, fc2;  // mlp.0, mlp.2
};

// Embedding table of num_classes + 1 rows; the last row is the null (CFG) class.
class LabelEmbedder : public Module {
 public:
  LabelEmbedder(int64_t num_classes, int64_t hidden, double dropout_prob, Generator& gen);
  // In training mode each label is replaced by the null class with probability dropout_prob,
  // drawn from `gen`. Returns the embeddings (B, D) and writes the labels actually used.
  Tensor forward(const Tensor& labels, Generator* gen, Tensor* used_labels) const;

  int64_t num_classes;
  double dropout_prob;
  Tensor& table;  // embedding_table.weight (num_classes + 1, D)
};

}  // namespace promoe::nn
