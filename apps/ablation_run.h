// One training run of the ablation (a variant and a seed), resumable: it trains to each evaluation
// step (the training resumes bit-exactly from the last checkpoint), samples from the EMA weights,
// scores the samples and stores the result as <dir>/eval_step<N>.json before going on, so a
// killed ablation continues where it stopped and finished points are never redone.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/ablation_plan.h"
#include "eval/evaluate.h"

namespace promoe::apps {

// The feature network, the real images and the cached reference statistics every run is scored
// against.
class AblationScorer {
 public:
  AblationScorer(const std::string& features, const std::string& data, int64_t pr_seed);
  // images (N, C, H, W) f32 in [-1, 1], quantised to bytes as `promoe sample --out x.npz` writes
  // them, so a stored .npz of the same samples scores the same.
  eval::EvalReport score(const Tensor& images, const std::vector<int64_t>& labels, const std::string& source);

 private:
  std::shared_ptr<eval::FeatureNet> net_;
  eval::ImageSet train_, test_;
  std::unique_ptr<eval::Evaluator> evaluator_;
};

// One evaluation point of a run: eval_step<N>.json.
struct RunPoint {
  int64_t step = 0;
  nlohmann::json eval;  // EvalReport::to_json()
  double val_loss = 0;
  nlohmann::json specialisation;  // per MoE block (training/routing_report.h); null for dense models
  double train_seconds = 0, sample_seconds = 0;
};

struct RunResult {
  std::string variant;
  uint64_t seed = 0;
  int64_t total_parameters = 0, activated_parameters = 0;
  std::vector<RunPoint> points;  // by step
};

// Trains and scores `variant` with `seed` in `dir` as the plan says; reuses every stored point.
RunResult run_ablation(const AblationPlan& plan, const AblationVariant& variant, uint64_t seed, const std::string& data,
                       const std::string& dir, AblationScorer& scorer, bool progress);

}  // namespace promoe::apps
