// `promoe eval`'s report: a sample set scored against the test set in the feature network's space
// (Fréchet distance, KID, precision/recall, class consistency, pixel statistics), each beside the
// real-data floor at the same N: a random N-image subset of the training set scored the same way,
// which is what a perfect generator would get (FD is biased upwards at small N).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/feature_net.h"
#include "eval/image_set.h"

namespace promoe::eval {

struct EvalOptions {
  int64_t kid_subsets = 100;
  int64_t kid_subset_size = 1000;
  int64_t pr_k = 3;      // neighbours for the precision/recall manifolds
  int64_t pr_real = -1;  // test images forming the real manifold (-1: as many as samples, at most the test set)
  uint64_t seed = 0;     // the floor's training subset, KID subsets and the real manifold's images
};

// Pixel values on the 0..255 scale of the stored bytes.
struct PixelStats {
  double mean = 0, std = 0;
  double dark = 0;            // share of pixels below 8 (background)
  double mean_image_rms = 0;  // RMS difference between the set's mean image and the test set's
};
PixelStats pixel_stats(const Tensor& images, const Tensor& reference_mean_image);

struct SetScores {
  double fd = 0;
  double kid = 0, kid_std = 0;
  double precision = 0, recall = 0;
  std::optional<double> accuracy;                // without labels: none
  std::vector<std::optional<double>> per_class;  // by class; none without labels or samples
  std::vector<int64_t> predicted_histogram;      // images predicted as each class
  std::vector<int64_t> label_histogram;          // images labelled as each class (empty without labels)
  PixelStats pixels;
};

struct EvalReport {
  int64_t n = 0, test_n = 0, num_classes = 0;
  std::string samples_source, test_source, floor_source;
  SetScores samples, floor;
  PixelStats test_pixels;
  std::vector<std::string> class_names;  // empty: numbered
  double seconds = 0;

  std::string table() const;
  nlohmann::json to_json() const;
};

// Scores many sample sets against one test set: the test features, their Gaussian and the floor
// at each sample count are computed once and reused (an ablation scores dozens of sets).
class Evaluator {
 public:
  // Keeps references to net, train and test, which must outlive it.
  Evaluator(const FeatureNet& net, const ImageSet& train, const ImageSet& test, const EvalOptions& options);
  ~Evaluator();
  // Validates the samples (>= 2 images, at most as many as training images, labels in range,
  // pixels finite in [-1, 1]) and scores them and the floor.
  EvalReport evaluate(const ImageSet& samples);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One set: Evaluator(net, train, test, options).evaluate(samples).
EvalReport evaluate(const FeatureNet& net, const ImageSet& samples, const ImageSet& train, const ImageSet& test,
                    const EvalOptions& options);

}  // namespace promoe::eval
