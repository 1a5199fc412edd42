// Routing analysis over a class-balanced batch, and its report files.
#include "training/routing_report.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "diffusion/rectified_flow.h"
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/plot.h"
#include "moe/specialisation.h"

namespace promoe::training {

moe::RoutingStats analyse_routing(nn::DiT& model, const ModelSpec& spec, const Tensor& images, const Tensor& labels,
                                  const RoutingAnalysis& o) {
  PROMOE_CHECK(spec.moe.has_value(), "routing: the model has no MoE layers");
  NoGradGuard ng;
  const int64_t classes = spec.dit.num_classes;
  // The first per_class examples of every class, in class order.
  std::vector<int64_t> picked, picked_labels;
  std::vector<int64_t> seen(size_t(classes), 0);
  const std::vector<int64_t> all = labels.to_vector<int64_t>();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] < classes && seen[size_t(all[i])] < o.per_class) {
      ++seen[size_t(all[i])];
      picked.push_back(int64_t(i));
      picked_labels.push_back(all[i]);
    }
  // Null-label copies of the first class's examples route to the unconditional expert.
  for (int64_t i = 0; i < std::min<int64_t>(o.per_class, int64_t(picked.size())); ++i) {
    picked.push_back(picked[size_t(i)]);
    picked_labels.push_back(classes);
  }
  const int64_t n = int64_t(picked.size());
  const Device device = model.pos_embed.device();
  Tensor x0 = raw::to(raw::index_select(images, 0, raw::from_vector<int64_t>(picked, {n})), device);
  Tensor y = raw::from_vector<int64_t>(picked_labels, {n}, device);
  Generator gen(o.seed);
  Tensor sigma = raw::full({n}, o.sigma, DType::F32, device);
  Tensor x_t = diffusion::rf_interpolate(x0, sigma, gen.randn(x0.shape(), DType::F32, device));

  moe::RoutingStats stats(*spec.moe, classes, spec.dit.tokens());
  const bool was_training = model.is_training();
  model.train(false);
  const int64_t batch = 64;
  for (int64_t at = 0; at < n; at += batch) {
    const int64_t b = std::min(batch, n - at);
    nn::ForwardContext ctx;
    ctx.record = true;
    model.forward(raw::narrow(x_t, 0, at, b), diffusion::rf_model_time(raw::narrow(sigma, 0, at, b)),
                  raw::narrow(y, 0, at, b), ctx);
    stats.add(ctx);
  }
  model.train(was_training);
  stats.set_prototypes(model);
  return stats;
}

nlohmann::json specialisation_json(const moe::RoutingStats& stats) {
  nlohmann::json out = nlohmann::json::array();
  for (const moe::BlockSpecialisation& s : moe::block_specialisation(stats))
    out.push_back({{"block", s.block},
                   {"mutual_information", s.classes.mutual_information},
                   {"normalised_mi", s.classes.normalised},
                   {"null_to_uncond", s.null_to_uncond ? nlohmann::json(*s.null_to_uncond) : nlohmann::json(nullptr)}});
  return out;
}

void write_routing_report(const moe::RoutingStats& stats, const std::string& dir,
                          const std::vector<std::string>& class_names) {
  const moe::MoeConfig& cfg = stats.config();
  const int64_t num_classes = stats.num_classes();
  std::filesystem::create_directories(dir);
  std::vector<std::string> rows(class_names.begin(), class_names.end());
  while (int64_t(rows.size()) < num_classes) rows.push_back("class " + std::to_string(rows.size()));
  rows.resize(size_t(num_classes));
  rows.push_back("null");
  std::vector<std::string> cols;
  for (int64_t e = 0; e < cfg.num_expert_mlps(); ++e)
    cols.push_back(cfg.has_uncond_expert() && e == cfg.num_experts ? "uncond" : "expert " + std::to_string(e));
  nlohmann::json summary = nlohmann::json::object();
  for (auto& [block, b] : stats.blocks()) {
    const std::string tag = "block" + std::to_string(block);
    nlohmann::json entry;
    if (!b.load.empty()) {
      std::vector<double> flat;
      for (auto& r : b.class_expert) flat.insert(flat.end(), r.begin(), r.end());
      Tensor m = raw::from_vector<double>(flat, {int64_t(b.class_expert.size()), int64_t(cols.size())});
      io::write_csv(dir + "/class_expert_" + tag + ".csv", m, rows, cols, "class");
      // The picture shows each class's share of its tokens per expert, so rows of different sizes
      // (the null row) compare; the CSV keeps the counts.
      Tensor share = raw::div(m, raw::binary(BinaryOp::Maximum, raw::sum(m, {1}, true), raw::scalar(1.0, DType::F64)));
      io::write_heatmap_png(dir + "/class_expert_" + tag + ".png", share,
                            {.title = "Block " + std::to_string(block) + ": share of each class's tokens per expert",
                             .x_label = "expert",
                             .y_label = "class",
                             .colour_label = "share of the class's tokens",
                             .row_names = rows,
                             .col_names = cols,
                             .vmin = 0.0,
                             .annotate = cols.size() <= 16});
      entry["load"] = b.load;
      if (b.weight_count > 0) {
        double mean = b.weight_sum / double(b.weight_count);
        entry["weight"] = {{"mean", mean},
                           {"std", std::sqrt(std::max(0.0, b.weight_sq_sum / double(b.weight_count) - mean * mean))},
                           {"min", b.weight_min},
                           {"max", b.weight_max},
                           {"count", b.weight_count}};
      }
    }
    if (b.prototype_cosine.defined()) {
      std::vector<std::string> names(cols.begin(), cols.begin() + cfg.num_experts);
      io::write_csv(dir + "/prototypes_" + tag + ".csv", b.prototype_cosine, names, names, "cosine");
      io::write_heatmap_png(dir + "/prototypes_" + tag + ".png", b.prototype_cosine,
                            {.title = "Block " + std::to_string(block) + ": cosine similarity of the expert prototypes",
                             .x_label = "expert",
                             .y_label = "expert",
                             .colour_label = "cosine similarity",
                             .row_names = names,
                             .col_names = names,
                             .vmin = -1.0,
                             .vmax = 1.0,
                             .annotate = names.size() <= 16});
    }
    summary[std::to_string(block)] = entry;
  }
  for (const nlohmann::json& s : specialisation_json(stats))
    summary[std::to_string(s.at("block").get<int64_t>())]["specialisation"] = s;
  io::write_file_atomic(dir + "/routing.json", summary.dump(2) + "\n");
}

}  // namespace promoe::training
