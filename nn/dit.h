// The DiT backbone of ProMoE (docs/PROMOE.md §1): patch embedding + positions, timestep and label
// embedders, adaLN-Zero blocks whose feed-forward is pluggable (dense Mlp here; MoE layers in moe/),
// the final layer and unpatchify.
#pragma once
#include <functional>
#include <map>

#include "nn/embedders.h"

namespace promoe::nn {

struct DiTConfig {
  int64_t input_size = 32;  // latent height = width
  int64_t in_channels = 4;
  int64_t patch_size = 2;
  int64_t hidden_size = 384;
  int64_t depth = 12;
  int64_t num_heads = 6;
  double mlp_ratio = 4.0;
  int64_t num_classes = 1000;  // label num_classes is the null class
  bool learn_sigma = true;
  double class_dropout_prob = 0.1;

  int64_t out_channels() const { return learn_sigma ? 2 * in_channels : in_channels; }
  int64_t grid() const { return input_size / patch_size; }
  int64_t tokens() const { return grid() * grid(); }
  void validate() const;  // throws promoe::Error naming the bad field
};

// The route one MoE block took in a recorded forward pass. Token choice: idx (B, N, K) expert ids
// and w their routing weights. Expert choice: idx (B, E, capacity) token ids (-1: an empty slot),
// w their weights.
struct RouteRecord {
  Tensor idx, w;
};

// What one forward pass reports besides its output: auxiliary losses (already weighted by their
// coefficient, keyed "rcl.blocks.3"), and, on request, per-block records for parity checks and
// routing analytics (block outputs "act.blocks.3.out", routes "route.blocks.3.idx").
// Sums a tensor over the ranks of a data-parallel job (every rank gets the same result, on the
// tensor's device): the hook through which routing losses see the global batch
// (--global-routing-losses; moe/routing_losses.h). The training layer implements it on dist/.
struct ReplicaSum {
  virtual ~ReplicaSum() = default;
  virtual Tensor sum(const Tensor& t) = 0;  // a new tensor; t is contiguous
  virtual int replicas() const = 0;
};

struct ForwardContext {
  Generator* generator = nullptr;                              // class dropout in training
  ReplicaSum* replica_sum = nullptr;                           // set: routing losses over all ranks' tokens
  bool aux = false;                                            // compute auxiliary (routing) losses, as in training
  bool record = false;                                         // fill `records`
  std::vector<std::pair<std::string, Tensor>> aux_losses;      // weighted, differentiable
  std::vector<std::pair<std::string, Tensor>> aux_unweighted;  // for logging / parity
  std::map<std::string, Tensor> records;
  std::map<int64_t, RouteRecord> routes;  // with `record`: by block index
  Tensor used_labels;                     // labels after class dropout, (B)
  // The labels as the MoE layers read them on the host, kept by the first that does (on a GPU each
  // read waits for the device, so a forward reads them once), with the tensor they came from.
  Tensor host_labels_of;
  std::vector<int64_t> host_labels;
};

// A block's feed-forward: u (B, N, D), labels (B) after dropout -> (B, N, D). MoE layers add their
// auxiliary losses to ctx when ctx.aux is set, and their routes to ctx.records when ctx.record is.
class FeedForward : public Module {
 public:
  virtual Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, ForwardContext& ctx) = 0;
  // Parameters one token uses (for "activated parameter" counts).
  virtual int64_t activated_parameters() const { return num_parameters(); }
};

class DenseFeedForward : public FeedForward {
 public:
  DenseFeedForward(int64_t dim, int64_t hidden, Generator& gen);
  Tensor forward(const Tensor& u, const Tensor& labels, int64_t block, ForwardContext& ctx) override;
  std::shared_ptr<Mlp> mlp;
};

// Builds the feed-forward of block i (named "mlp" in the state_dict).
using FeedForwardFactory = std::function<std::shared_ptr<FeedForward>(int64_t block, Generator& gen)>;

class Attention : public Module {
 public:
  Attention(int64_t dim, int64_t heads, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (B, N, D)
  int64_t heads;
  std::shared_ptr<Linear> qkv, proj;
};

class DiTBlock : public Module {
 public:
  DiTBlock(const DiTConfig& cfg, std::shared_ptr<FeedForward> ffn, Generator& gen);
  Tensor forward(const Tensor& x, const Tensor& c, const Tensor& labels, int64_t index, ForwardContext& ctx) const;

  std::shared_ptr<Attention> attn;
  std::shared_ptr<FeedForward> mlp;
  std::shared_ptr<Linear> ada;  // adaLN_modulation.1: (6D, D), zero-initialised
};

class FinalLayer : public Module {
 public:
  FinalLayer(int64_t hidden, int64_t patch, int64_t out_channels, Generator& gen);
  Tensor forward(const Tensor& x, const Tensor& c) const;  // (B, N, D) -> (B, N, p*p*C_out)
  std::shared_ptr<Linear> ada, linear;
};

class DiT : public Module {
 public:
  // feed_forward == nullptr gives the dense DiT (Mlp of width mlp_ratio * D in every block).
  DiT(const DiTConfig& cfg, uint64_t seed, const FeedForwardFactory& feed_forward = nullptr);
  // x (B, C, H, W), t (B) model time, y (B) i64 labels -> (B, C_out, H, W).
  Tensor forward(const Tensor& x, const Tensor& t, const Tensor& y, ForwardContext& ctx) const;
  Tensor forward(const Tensor& x, const Tensor& t, const Tensor& y) const;

  // Parameters one token activates: all but the experts it does not visit.
  int64_t activated_parameters() const;

  DiTConfig config;
  std::shared_ptr<PatchEmbed> x_embedder;
  std::shared_ptr<TimestepEmbedder> t_embedder;
  std::shared_ptr<LabelEmbedder> y_embedder;
  std::vector<std::shared_ptr<DiTBlock>> blocks;
  std::shared_ptr<FinalLayer> final_layer;
  Tensor& pos_embed;  // (1, N, D) buffer

 private:
  Tensor unpatchify(const Tensor& tokens) const;
};

}  // namespace promoe::nn
