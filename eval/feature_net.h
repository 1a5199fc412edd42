// The feature network of `promoe eval`: a small CNN classifier trained by this runtime on a labelled
// image set. Its penultimate activations (feature_dim values per image) are the space in which the
// Fréchet distance, KID and precision/recall compare generated and real images; its predictions
// give the class-consistency accuracy. Input: (B, C, S, S) f32 in [-1, 1], the images as
// `promoe train` sees them (black = -1).
//
//   conv 2x2 stride 2 -> ReLU                       (S -> S/2, width w1: a patchify stem, which
//                                                    keeps the 3x3 layers off full size)
//   2 x [conv 3x3 (pad 1) -> ReLU -> max pool 2x2]  (S/2 -> S/8, widths w2, w3)
//   flatten (S/8 * S/8 * w3) -> linear -> ReLU       = features (B, feature_dim)
//   dropout (training only) -> linear                = logits (B, num_classes)
#pragma once
#include <map>
#include <string>

#include "nn/layers.h"

namespace promoe::eval {

struct FeatureNetConfig {
  int64_t in_channels = 1;
  int64_t image_size = 32;  // a multiple of 8
  int64_t num_classes = 10;
  int64_t width1 = 32, width2 = 64, width3 = 64;
  int64_t feature_dim = 128;
  double dropout = 0.0;  // on the features, training only

  std::string to_json() const;
  static FeatureNetConfig from_json(const std::string& json);  // throws on missing or bad fields
  void validate() const;
};

// A k x k convolution on pixel-major images (eval/conv.h); weight (out, k, k, in), He-uniform
// initialised.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (H, W, B, in) -> (Ho, Wo, B, out)
  int64_t stride, pad;
  Tensor &weight, &bias;
};

class FeatureNet : public Module {
 public:
  FeatureNet(const FeatureNetConfig& config, uint64_t seed);

  struct Output {
    Tensor features;  // (B, feature_dim)
    Tensor logits;    // (B, num_classes)
  };
  // `dropout_gen` draws the dropout mask when the module is in training mode (may be null otherwise).
  Output forward(const Tensor& images, Generator* dropout_gen = nullptr) const;

  FeatureNetConfig config;
  std::shared_ptr<Conv2d> stem, conv1, conv2;
  std::shared_ptr<nn::Linear> fc, head;
};

// Weights and config in one safetensors file (metadata "format" = "promoe-feature-net-1", "config").
// `extra` metadata (e.g. how the weights were trained) is stored beside the config.
void save_feature_net(const std::string& path, const FeatureNet& net,
                      const std::map<std::string, std::string>& extra = {});
std::shared_ptr<FeatureNet> load_feature_net(const std::string& path);

// Features and predicted classes of many images, in batches under no-grad, in eval mode.
struct Embedding {
  Tensor features;   // (N, feature_dim) f32
  Tensor predicted;  // (N) i64
};
Embedding embed(const FeatureNet& net, const Tensor& images, int64_t batch = 250);

}  // namespace promoe::eval
