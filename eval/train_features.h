// Training the feature network (`promoe eval --train-features`): AdamW on cross-entropy with a
// cosine learning-rate decay, seeded shuffles, dropout and random horizontal flips. A fixed seed
// and thread count give identical weights.
#pragma once
#include <functional>

#include "eval/feature_net.h"
#include "eval/image_set.h"

namespace promoe::eval {

struct FeatureTrainOptions {
  int64_t epochs = 4;
  int64_t batch = 128;
  double lr = 2e-3;
  double weight_decay = 1e-4;
  bool flip = false;  // random horizontal flips of training images
  uint64_t seed = 0;
  bool progress = true;
};

struct FeatureTrainResult {
  std::vector<double> epoch_loss;           // mean training loss of each epoch
  std::vector<double> epoch_test_accuracy;  // test accuracy after each epoch
  double seconds = 0;
};

// Trains `net` in place on `train`, measuring accuracy on `test` after every epoch.
FeatureTrainResult train_feature_net(FeatureNet& net, const ImageSet& train, const ImageSet& test,
                                     const FeatureTrainOptions& options);

// Share of `set`'s images whose predicted class is their label (set must be labelled).
double classification_accuracy(const FeatureNet& net, const ImageSet& set);

}  // namespace promoe::eval
