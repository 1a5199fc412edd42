// Training, sampling and scoring one ablation run.
#include "apps/ablation_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "eval/feature_net.h"
#include "io/atomic_file.h"
#include "io/fashion_mnist.h"
#include "io/pixel_bytes.h"
#include "tensor/ops.h"
#include "training/checkpoint.h"
#include "training/sampling.h"
#include "training/trainer.h"

namespace promoe::apps {

namespace {

using json = nlohmann::json;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The log.jsonl line of `step` that holds `key`.
json log_line(const std::string& log_path, int64_t step, const char* key) {
  std::ifstream in(log_path);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("step", int64_t(-1)) == step && j.contains(key)) return j;
  }
  PROMOE_FAIL("ablate: ", log_path, " has no line for step ", step, " with '", key, "'");
}

json point_json(const RunPoint& p) {
  return {{"step", p.step},
          {"eval", p.eval},
          {"val_loss", p.val_loss},
          {"specialisation", p.specialisation},
          {"train_seconds", p.train_seconds},
          {"sample_seconds", p.sample_seconds}};
}

RunPoint point_from_json(const json& j) {
  RunPoint p;
  p.step = j.at("step").get<int64_t>();
  p.eval = j.at("eval");
  p.val_loss = j.at("val_loss").get<double>();
  p.specialisation = j.at("specialisation");
  p.train_seconds = j.at("train_seconds").get<double>();
  p.sample_seconds = j.at("sample_seconds").get<double>();
  return p;
}

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  PROMOE_CHECK(!j.is_discarded(), "ablate: ", path, " is not valid JSON; delete it to redo that point");
  return j;
}

}  // namespace

AblationScorer::AblationScorer(const std::string& features, const std::string& data, int64_t pr_seed) {
  net_ = eval::load_feature_net(features);
  const eval::ImageLayout layout{net_->config.in_channels, net_->config.image_size};
  train_ = eval::load_idx_split(data, true, layout);
  test_ = eval::load_idx_split(data, false, layout);
  eval::EvalOptions o;
  o.seed = uint64_t(pr_seed);
  evaluator_ = std::make_unique<eval::Evaluator>(*net_, train_, test_, o);
}

eval::EvalReport AblationScorer::score(const Tensor& images, const std::vector<int64_t>& labels,
                                       const std::string& source) {
  // Scored as the bytes `promoe sample` writes to an .npz evaluation set.
  const std::vector<uint8_t> bytes = io::nhwc_pixel_bytes(images);
  eval::ImageSet set =
      eval::images_from_bytes(bytes.data(), images.size(0), images.size(2), images.size(3), images.size(1),
                              {net_->config.in_channels, net_->config.image_size}, source);
  set.labels = raw::from_vector<int64_t>(labels, {int64_t(labels.size())});
  eval::EvalReport r = evaluator_->evaluate(set);
  for (const char* n : io::fashion_mnist_class_names()) r.class_names.push_back(n);
  return r;
}

RunResult run_ablation(const AblationPlan& plan, const AblationVariant& variant, uint64_t seed, const std::string& data,
                       const std::string& dir, AblationScorer& scorer, bool progress) {
  std::filesystem::create_directories(dir);
  RunResult result{variant.id, seed, 0, 0, {}};
  const training::ModelSpec spec = training::edited_spec(variant.preset, variant.edits());
  {
    auto model = spec.build(0);
    result.total_parameters = model->num_parameters() + model->pos_embed.numel();
    result.activated_parameters = model->activated_parameters();
  }
  training::TrainOptions t;
  t.preset = variant.preset;
  t.model_edits = variant.edits();
  t.data = data;
  t.steps = plan.steps;
  t.batch = plan.batch;
  t.lr = plan.lr;
  t.warmup = plan.warmup;
  t.ema_decay = plan.ema_decay;
  t.seed = seed;
  t.limit = plan.limit;
  t.out = dir;
  t.checkpoint_every = plan.eval_every;
  t.log_every = std::max<int64_t>(1, std::min<int64_t>(50, plan.eval_every));
  t.val_every = plan.eval_every;
  t.val_size = plan.val_size;
  t.routing_every = plan.eval_every;
  t.progress = progress;
  const std::string ckpt = dir + "/checkpoint.safetensors";

  for (int64_t at : plan.eval_steps()) {
    const std::string point_path = dir + "/eval_step" + std::to_string(at) + ".json";
    if (std::filesystem::exists(point_path)) {
      result.points.push_back(point_from_json(read_json_file(point_path)));
      continue;
    }
    RunPoint p;
    p.step = at;
    const int64_t done = std::filesystem::exists(ckpt) ? training::read_checkpoint_state(ckpt).step : 0;
    PROMOE_CHECK(done <= at, "ablate: ", ckpt, " is at step ", done, ", past the unscored step ", at, "; delete ", dir,
                 " to redo this run");
    auto t0 = std::chrono::steady_clock::now();
    if (done < at) {
      t.resume = done > 0;
      t.stop_after = at - done;
      training::train(t);
    }
    p.train_seconds = seconds_since(t0);
    const std::string log_path = dir + "/log.jsonl";
    p.val_loss = log_line(log_path, at, "val_loss").at("val_loss").get<double>();
    p.specialisation = spec.moe ? log_line(log_path, at, "specialisation").at("specialisation") : json();

    t0 = std::chrono::steady_clock::now();
    auto model = spec.build(0);
    training::load_ema_weights(ckpt, *model);
    model->train(false);
    training::SampleOptions s;
    s.labels = training::sample_labels("balanced", plan.num, spec.dit.num_classes, seed);
    s.steps = plan.sample_steps;
    s.cfg_scale = plan.cfg;
    s.sampler = "euler";
    s.seed = seed;  // the same noise for every variant of one seed
    s.batch = 100;
    s.progress = progress;
    Tensor images = training::generate(*model, s);
    p.sample_seconds = seconds_since(t0);
    p.eval =
        scorer.score(images, s.labels, variant.id + " seed " + std::to_string(seed) + " step " + std::to_string(at))
            .to_json();
    io::write_file_atomic(point_path, point_json(p).dump(1) + "\n");
    if (progress)
      std::fprintf(stderr, "%s seed %llu step %lld: FD %.3f (floor %.3f), val_loss %.5f\n", variant.id.c_str(),
                   (unsigned long long)seed, (long long)at, p.eval.at("fd").get<double>(),
                   p.eval.at("fd_floor").get<double>(), p.val_loss);
    result.points.push_back(p);
  }
  return result;
}

}  // namespace promoe::apps
