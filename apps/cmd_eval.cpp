// `promoe eval`: scores generated images against a labelled image set in the feature space of a
// small classifier, and (`--train-features`) trains that classifier.
#include <cstdio>
#include <filesystem>

#include "apps/commands.h"
#include "apps/option_range.h"
#include "eval/evaluate.h"
#include "eval/image_set.h"
#include "eval/train_features.h"
#include "io/atomic_file.h"
#include "io/fashion_mnist.h"

namespace promoe::apps {

namespace {

struct EvalArgs {
  std::string samples;  // the set to score
  std::string features = PROMOE_DEFAULT_FEATURES;
  std::string json;
  eval::EvalOptions eval;
  bool train_features = false;
  std::string data = "fashion-mnist";  // IDX directory or a training .npz
  std::string test;                    // test .npz when --data is a .npz
  std::string out = "features.safetensors";
  int64_t limit = -1;
  eval::FeatureNetConfig net;
  eval::FeatureTrainOptions train;
  int threads = 2;
  bool quiet = false;
};

bool is_npz(const std::string& p) { return p.size() > 4 && p.substr(p.size() - 4) == ".npz"; }

// The training and test sets named by --data (and --test).
std::pair<eval::ImageSet, eval::ImageSet> load_train_test(const EvalArgs& a, const eval::ImageLayout& layout) {
  if (is_npz(a.data)) {
    PROMOE_CHECK(!a.test.empty(), "eval: --data ", a.data, " is a .npz; pass the held-out set with --test FILE.npz");
    return {eval::load_image_file(a.data, layout, a.net.num_classes),
            eval::load_image_file(a.test, layout, a.net.num_classes)};
  }
  return {eval::load_idx_split(a.data, true, layout, a.limit), eval::load_idx_split(a.data, false, layout)};
}

void run_train_features(const EvalArgs& a) {
  eval::FeatureNetConfig cfg = a.net;
  cfg.validate();
  auto [train, test] = load_train_test(a, {cfg.in_channels, cfg.image_size});
  eval::FeatureNet net(cfg, a.train.seed);
  std::printf("feature net: %lld parameters; training on %lld images of %s, testing on %lld\n",
              (long long)net.num_parameters(), (long long)train.size(), train.source.c_str(), (long long)test.size());
  eval::FeatureTrainOptions o = a.train;
  o.progress = !a.quiet;
  eval::FeatureTrainResult r = eval::train_feature_net(net, train, test, o);
  const double acc = r.epoch_test_accuracy.back();
  char summary[160];
  std::snprintf(summary, sizeof summary, "test accuracy %.4f after %lld epochs (%.0f s)", acc, (long long)o.epochs,
                r.seconds);
  eval::save_feature_net(a.out, net,
                         {{"trained_on", train.source},
                          {"test_accuracy", std::to_string(acc)},
                          {"epochs", std::to_string(o.epochs)},
                          {"seed", std::to_string(o.seed)}});
  std::printf("%s; wrote %s\n", summary, a.out.c_str());
}

void run_score(const EvalArgs& a) {
  PROMOE_CHECK(!a.samples.empty(),
               "eval: name the samples to score (a .npz, .safetensors or PNG grid), or pass "
               "--train-features");
  std::error_code ec;
  PROMOE_CHECK(std::filesystem::is_regular_file(a.samples, ec), "eval: samples ", a.samples, ": no such file");
  PROMOE_CHECK(std::filesystem::is_regular_file(a.features, ec), "eval: feature network ", a.features,
               " not found; pass --features FILE (written by `promoe eval --train-features`)");
  auto net = eval::load_feature_net(a.features);
  const eval::ImageLayout layout{net->config.in_channels, net->config.image_size};
  eval::ImageSet samples = eval::load_image_file(a.samples, layout, net->config.num_classes);
  eval::check_labels(samples, net->config.num_classes);
  auto [train, test] = load_train_test(a, layout);
  eval::EvalReport r = eval::evaluate(*net, samples, train, test, a.eval);
  if (net->config.num_classes == io::kFashionMnistClasses &&
      (a.data == "fashion-mnist" || a.data == io::kFashionMnistDir))
    for (const char* n : io::fashion_mnist_class_names()) r.class_names.push_back(n);
  std::printf("%s", r.table().c_str());
  std::printf("scored in %.1f s with %s\n", r.seconds, a.features.c_str());
  if (!a.json.empty()) {
    io::write_file_atomic(a.json, r.to_json().dump(1) + "\n");
    std::printf("wrote %s\n", a.json.c_str());
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Score samples against real images; --train-features trains the scorer");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("samples", a->samples,
                  "Samples to score: .npz (arr_0 uint8 NxHxWxC, arr_1 labels), .safetensors, PNG grid");
  cmd->add_option("--features", a->features, "Feature network weights")->capture_default_str();
  cmd->add_option("--json", a->json, "Also write the results as JSON");
  ranged<int64_t>(cmd->add_option("--kid-subsets", a->eval.kid_subsets, "KID subsets"), 1, 10000)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--kid-subset-size", a->eval.kid_subset_size, "KID subset size"), 2, 100000)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--pr-k", a->eval.pr_k, "Neighbours of the precision/recall manifolds"), 1, 100)
      ->capture_default_str();
  ranged(cmd->add_option("--eval-seed", a->eval.seed, "Seed of the floor subset, KID subsets and real manifold"),
         uint64_t(0), std::numeric_limits<uint64_t>::max())
      ->capture_default_str();
  cmd->add_flag("--train-features", a->train_features, "Train the feature network instead of scoring");
  cmd->add_option("--data", a->data,
                  "Real labelled images (train split: training / floor; test split: reference): fashion-mnist, "
                  "an MNIST-family IDX directory, or a training .npz with --test")
      ->capture_default_str();
  cmd->add_option("--test", a->test, "Held-out labelled .npz (when --data is a .npz)");
  cmd->add_option("--out", a->out, "Where --train-features writes the weights")->capture_default_str();
  ranged<int64_t>(cmd->add_option("--limit", a->limit, "Use only the first N training images (-1: all)"), 1,
                  kMaxExamples, -1)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--epochs", a->train.epochs, "Training epochs"), 1, 1000)->capture_default_str();
  ranged<int64_t>(cmd->add_option("--batch", a->train.batch, "Training batch size"), 1, 65536)->capture_default_str();
  ranged<double>(cmd->add_option("--lr", a->train.lr, "Peak AdamW learning rate (cosine decay to 0)"), 1e-7, 1.0)
      ->capture_default_str();
  ranged<double>(cmd->add_option("--weight-decay", a->train.weight_decay, "AdamW weight decay"), 0.0, 1.0)
      ->capture_default_str();
  cmd->add_flag("--flip", a->train.flip, "Mirror training images left-right at random");
  ranged<double>(cmd->add_option("--dropout", a->net.dropout, "Dropout on the features while training"), 0.0, 0.95)
      ->capture_default_str();
  ranged(cmd->add_option("--seed", a->train.seed, "Seed for initialisation, order, dropout and flips"), uint64_t(0),
         std::numeric_limits<uint64_t>::max())
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--channels", a->net.in_channels, "Image channels"), 1, 4)->capture_default_str();
  ranged<int64_t>(
      cmd->add_option("--image-size", a->net.image_size, "Image side the network sees (smaller images are padded)"), 8,
      256)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--classes", a->net.num_classes, "Number of classes"), 2, 1000)
      ->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->callback([a] {
    set_threads(a->threads);
    if (a->train_features) return run_train_features(*a);
    run_score(*a);
  });
}

}  // namespace promoe::apps
