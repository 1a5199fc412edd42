// Scoring a sample set and its real-data floor, and the report's table and JSON.
#include "eval/evaluate.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "eval/metrics.h"
#include "tensor/ops.h"

namespace promoe::eval {

namespace {

FeatureMatrix to_matrix(const Tensor& features) {
  const int64_t n = features.size(0), d = features.size(1);
  std::vector<double> v = features.to_vector<double>();
  return Eigen::Map<const FeatureMatrix>(v.data(), n, d);
}

// (C*S*S) mean image on the 0..255 scale.
Tensor mean_image(const Tensor& images) {
  return raw::mul_scalar(raw::add_scalar(raw::reduce(ReduceOp::Mean, images, {0}, false), 1.0), 127.5);
}

void check_finite(const ImageSet& s) {
  const float* x = s.images.data<float>();
  for (int64_t i = 0; i < s.images.numel(); ++i)
    PROMOE_CHECK(std::isfinite(x[i]) && x[i] >= -1.0f && x[i] <= 1.0f, "eval: ", s.source, ": pixel value ", x[i],
                 " at flat index ", i, " is not in [-1, 1]");
}

struct Reference {
  const FeatureMatrix& test_features;
  FeatureMatrix real_manifold;  // the test images the precision/recall manifold is built from
  const Gaussian& test_gaussian;
  const Tensor& test_mean_image;
};

SetScores score(const FeatureNet& net, const ImageSet& set, const Reference& ref, const EvalOptions& o) {
  SetScores s;
  const Embedding e = embed(net, set.images);
  const FeatureMatrix f = to_matrix(e.features);
  s.fd = frechet_distance(fit_gaussian(f), ref.test_gaussian);
  const Kid kid = kernel_inception_distance(f, ref.test_features, o.kid_subsets, o.kid_subset_size, o.seed + 7);
  s.kid = kid.mean;
  s.kid_std = kid.std;
  const int64_t k = std::min<int64_t>({o.pr_k, f.rows() - 1, ref.real_manifold.rows() - 1});
  const PrecisionRecall pr = precision_recall(ref.real_manifold, f, k);
  s.precision = pr.precision;
  s.recall = pr.recall;
  const int64_t classes = net.config.num_classes;
  s.predicted_histogram.assign(classes, 0);
  const int64_t* pred = e.predicted.data<int64_t>();
  for (int64_t i = 0; i < set.size(); ++i) ++s.predicted_histogram[pred[i]];
  s.per_class.assign(classes, std::nullopt);
  if (set.labelled()) {
    const int64_t* y = set.labels.data<int64_t>();
    std::vector<int64_t> right(classes, 0);
    s.label_histogram.assign(classes, 0);
    int64_t total_right = 0;
    for (int64_t i = 0; i < set.size(); ++i) {
      ++s.label_histogram[y[i]];
      right[y[i]] += pred[i] == y[i];
      total_right += pred[i] == y[i];
    }
    s.accuracy = double(total_right) / double(set.size());
    for (int64_t c = 0; c < classes; ++c)
      if (s.label_histogram[c] > 0) s.per_class[c] = double(right[c]) / double(s.label_histogram[c]);
  }
  s.pixels = pixel_stats(set.images, ref.test_mean_image);
  return s;
}

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

nlohmann::json scores_json(const SetScores& s) {
  nlohmann::json per = nlohmann::json::array();
  for (const auto& v : s.per_class) per.push_back(opt(v));
  return {{"fd", s.fd},
          {"kid", s.kid},
          {"kid_std", s.kid_std},
          {"precision", s.precision},
          {"recall", s.recall},
          {"accuracy", opt(s.accuracy)},
          {"per_class_accuracy", per},
          {"predicted_histogram", s.predicted_histogram},
          {"pixel_mean", s.pixels.mean},
          {"pixel_std", s.pixels.std},
          {"pixel_dark_share", s.pixels.dark},
          {"mean_image_rms", s.pixels.mean_image_rms}};
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string fmt_opt(const std::optional<double>& v) { return v ? fmt("%.4f", *v) : std::string("-"); }

}  // namespace

PixelStats pixel_stats(const Tensor& images, const Tensor& reference_mean_image) {
  PixelStats p;
  const float* x = images.data<float>();
  const int64_t n = images.numel();
  double sum = 0, sq = 0;
  int64_t dark = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = (double(x[i]) + 1.0) * 127.5;
    sum += v;
    sq += v * v;
    dark += v < 8.0;
  }
  p.mean = sum / double(n);
  p.std = std::sqrt(std::max(0.0, sq / double(n) - p.mean * p.mean));
  p.dark = double(dark) / double(n);
  const std::vector<float> a = mean_image(images).to_vector<float>(), b = reference_mean_image.to_vector<float>();
  double d2 = 0;
  for (size_t i = 0; i < a.size(); ++i) d2 += double(a[i] - b[i]) * double(a[i] - b[i]);
  p.mean_image_rms = std::sqrt(d2 / double(a.size()));
  return p;
}

struct Evaluator::State {
  const FeatureNet& net;
  const ImageSet &train, &test;
  EvalOptions options;
  FeatureMatrix test_features;
  Gaussian test_gaussian;
  Tensor test_mean_image;
  PixelStats test_pixels;
  std::map<int64_t, std::pair<FeatureMatrix, SetScores>> by_n;  // per sample count: real manifold, floor scores
};

Evaluator::Evaluator(const FeatureNet& net, const ImageSet& train, const ImageSet& test, const EvalOptions& o)
    : state_(new State{net, train, test, o, {}, {}, {}, {}, {}}) {
  state_->test_features = to_matrix(embed(net, test.images).features);
  state_->test_gaussian = fit_gaussian(state_->test_features);
  state_->test_mean_image = mean_image(test.images);
  state_->test_pixels = pixel_stats(test.images, state_->test_mean_image);
}

Evaluator::~Evaluator() = default;

EvalReport Evaluator::evaluate(const ImageSet& samples) {
  const auto start = std::chrono::steady_clock::now();
  State& st = *state_;
  const EvalOptions& o = st.options;
  PROMOE_CHECK(samples.size() >= 2, "eval: ", samples.source, " holds ", samples.size(),
               " image(s); at least 2 are needed");
  PROMOE_CHECK(samples.size() <= st.train.size(), "eval: ", samples.size(), " samples but only ", st.train.size(),
               " training images for the real-data floor at that size");
  const int64_t classes = st.net.config.num_classes;
  check_labels(samples, classes);
  check_finite(samples);
  EvalReport r;
  r.n = samples.size();
  r.test_n = st.test.size();
  r.num_classes = classes;
  r.samples_source = samples.source;
  r.test_source = st.test.source;
  r.floor_source = st.train.source + ", " + std::to_string(r.n) + " random images";
  r.test_pixels = st.test_pixels;

  Reference ref{st.test_features, {}, st.test_gaussian, st.test_mean_image};
  auto cached = st.by_n.find(r.n);
  if (cached == st.by_n.end()) {
    const int64_t manifold = std::min(o.pr_real > 0 ? o.pr_real : r.n, st.test.size());
    const std::vector<int64_t> rows = sample_indices(st.test.size(), manifold, o.seed + 3);
    ref.real_manifold.resize(manifold, st.test_features.cols());
    for (int64_t i = 0; i < manifold; ++i) ref.real_manifold.row(i) = st.test_features.row(rows[i]);
    const ImageSet floor = subset(st.train, sample_indices(st.train.size(), r.n, o.seed + 5));
    const SetScores floor_scores = score(st.net, floor, ref, o);
    cached = st.by_n.emplace(r.n, std::make_pair(ref.real_manifold, floor_scores)).first;
  }
  ref.real_manifold = cached->second.first;
  r.floor = cached->second.second;
  r.samples = score(st.net, samples, ref, o);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

EvalReport evaluate(const FeatureNet& net, const ImageSet& samples, const ImageSet& train, const ImageSet& test,
                    const EvalOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  EvalReport r = Evaluator(net, train, test, o).evaluate(samples);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

nlohmann::json EvalReport::to_json() const {
  nlohmann::json j = scores_json(samples);
  j["n"] = n;
  j["test_n"] = test_n;
  j["num_classes"] = num_classes;
  j["samples"] = samples_source;
  j["test"] = test_source;
  j["floor_source"] = floor_source;
  const nlohmann::json floor_json = scores_json(floor);
  for (auto& [key, value] : floor_json.items()) j[key + "_floor"] = value;
  j["label_histogram"] = samples.label_histogram;
  j["test_pixel_mean"] = test_pixels.mean;
  j["test_pixel_std"] = test_pixels.std;
  j["test_pixel_dark_share"] = test_pixels.dark;
  j["seconds"] = seconds;
  return j;
}

std::string EvalReport::table() const {
  std::string t;
  char line[256];
  auto row = [&](const char* name, const std::string& a, const std::string& b, const std::string& c = "") {
    std::snprintf(line, sizeof line, "  %-22s %18s %18s %12s\n", name, a.c_str(), b.c_str(), c.c_str());
    t += line;
  };
  std::snprintf(line, sizeof line, "%lld samples (%s) against %lld test images (%s)\n", (long long)n,
                samples_source.c_str(), (long long)test_n, test_source.c_str());
  t += line;
  t += "  floor: " + floor_source + "\n";
  row("metric", "samples", "real floor", "test set");
  row("FD", fmt("%.3f", samples.fd), fmt("%.3f", floor.fd));
  row("KID", fmt("%.5f", samples.kid) + fmt(" ± %.5f", samples.kid_std),
      fmt("%.5f", floor.kid) + fmt(" ± %.5f", floor.kid_std));
  row("precision", fmt("%.4f", samples.precision), fmt("%.4f", floor.precision));
  row("recall", fmt("%.4f", samples.recall), fmt("%.4f", floor.recall));
  row("class accuracy", fmt_opt(samples.accuracy), fmt_opt(floor.accuracy));
  row("pixel mean", fmt("%.2f", samples.pixels.mean), fmt("%.2f", floor.pixels.mean), fmt("%.2f", test_pixels.mean));
  row("pixel std", fmt("%.2f", samples.pixels.std), fmt("%.2f", floor.pixels.std), fmt("%.2f", test_pixels.std));
  row("dark pixel share", fmt("%.4f", samples.pixels.dark), fmt("%.4f", floor.pixels.dark),
      fmt("%.4f", test_pixels.dark));
  row("mean-image RMS diff", fmt("%.3f", samples.pixels.mean_image_rms), fmt("%.3f", floor.pixels.mean_image_rms));
  t += "  per class: labelled / predicted as (samples), accuracy samples / floor\n";
  for (int64_t c = 0; c < num_classes; ++c) {
    const std::string name = c < int64_t(class_names.size()) ? class_names[c] : "class " + std::to_string(c);
    const std::string labelled = samples.label_histogram.empty() ? "-" : std::to_string(samples.label_histogram[c]);
    std::snprintf(line, sizeof line, "  %2lld %-14s %6s / %6lld   %8s / %8s\n", (long long)c, name.c_str(),
                  labelled.c_str(), (long long)samples.predicted_histogram[c], fmt_opt(samples.per_class[c]).c_str(),
                  fmt_opt(floor.per_class[c]).c_str());
    t += line;
  }
  return t;
}

}  // namespace promoe::eval
