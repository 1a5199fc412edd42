// Aggregating ablation runs into tables and a plot.
#include "apps/ablation_table.h"

#include <cmath>
#include <cstdio>
#include <map>

#include "io/atomic_file.h"
#include "io/plot.h"

namespace promoe::apps {

namespace {

using json = nlohmann::json;

struct Spread {
  double mean = NAN, std = NAN;
  int64_t n = 0;
};

// Mean and sample standard deviation (n - 1) of the finite values; NaN where there are none.
Spread spread(const std::vector<double>& v) {
  Spread s;
  double sum = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++s.n;
  if (s.n == 0) return s;
  s.mean = sum / double(s.n);
  double sq = 0;
  for (double x : v)
    if (std::isfinite(x)) sq += (x - s.mean) * (x - s.mean);
  s.std = s.n > 1 ? std::sqrt(sq / double(s.n - 1)) : 0.0;
  return s;
}

double number(const json& j, const char* key) {
  return j.contains(key) && j.at(key).is_number() ? j.at(key).get<double>() : NAN;
}

// Mean over the MoE blocks of a specialisation field; NaN for dense models or when absent.
double block_mean(const json& specialisation, const char* key) {
  if (!specialisation.is_array() || specialisation.empty()) return NAN;
  double sum = 0;
  int64_t n = 0;
  for (const json& b : specialisation)
    if (b.contains(key) && b.at(key).is_number()) sum += b.at(key).get<double>(), ++n;
  return n > 0 ? sum / double(n) : NAN;
}

// The metrics of one point, in table order.
struct Metric {
  const char* key;     // CSV column
  const char* header;  // Markdown column
  const char* format;
  double (*get)(const RunPoint&);
};

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> m = {
      {"fd", "FD ↓", "%.3f", [](const RunPoint& p) { return number(p.eval, "fd"); }},
      {"kid", "KID ↓", "%.5f", [](const RunPoint& p) { return number(p.eval, "kid"); }},
      {"precision", "precision ↑", "%.3f", [](const RunPoint& p) { return number(p.eval, "precision"); }},
      {"recall", "recall ↑", "%.3f", [](const RunPoint& p) { return number(p.eval, "recall"); }},
      {"accuracy", "class acc. ↑", "%.3f", [](const RunPoint& p) { return number(p.eval, "accuracy"); }},
      {"val_loss", "val. loss ↓", "%.4f", [](const RunPoint& p) { return p.val_loss; }},
      {"specialisation", "spec. I/H", "%.3f",
       [](const RunPoint& p) { return block_mean(p.specialisation, "normalised_mi"); }},
      {"null_to_uncond", "null→uncond", "%.3f",
       [](const RunPoint& p) { return block_mean(p.specialisation, "null_to_uncond"); }},
  };
  return m;
}

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string csv_number(double v) { return std::isfinite(v) ? fmt("%.6g", v) : ""; }

// Appends ",v" to a CSV row (appending piece by piece also keeps GCC 12's -Wrestrict false
// positive on `"," + std::string&&` away).
void add_csv_field(std::string& row, double v) {
  row += ',';
  row += csv_number(v);
}

const RunPoint* point_at(const RunResult& r, int64_t step) {
  for (const RunPoint& p : r.points)
    if (p.step == step) return &p;
  return nullptr;
}

}  // namespace

std::string write_ablation_report(const AblationPlan& plan, const std::vector<RunResult>& runs, const std::string& dir,
                                  const std::string& command) {
  std::map<std::string, std::vector<const RunResult*>> by_variant;
  for (const RunResult& r : runs) by_variant[r.variant].push_back(&r);
  std::vector<double> floors;
  for (const RunResult& r : runs)
    if (const RunPoint* p = point_at(r, plan.steps)) floors.push_back(number(p->eval, "fd_floor"));
  const Spread floor = spread(floors);

  std::string md = "# Ablation results\n\n";
  md += "`" + command + "`\n\n";
  char line[512];
  std::snprintf(line, sizeof line,
                "%lld training steps of batch %lld (lr %g, warm-up %lld, EMA %g) per run, %zu seed(s) per row; "
                "scored at the end on %lld samples (balanced classes, EMA weights, %lld Euler steps, guidance %g) "
                "against the Fashion-MNIST test set. FD floor at %lld samples (real training images): %s. "
                "Mean ± std over seeds.\n\n",
                (long long)plan.steps, (long long)plan.batch, plan.lr, (long long)plan.warmup, plan.ema_decay,
                plan.seeds.size(), (long long)plan.num, (long long)plan.sample_steps, plan.cfg, (long long)plan.num,
                (fmt("%.3f", floor.mean) + " ± " + fmt("%.3f", floor.std)).c_str());
  md += line;
  md += "| variant | activated / total params |";
  for (const Metric& m : metrics()) md += std::string(" ") + m.header + " |";
  md += "\n|---|---|";
  for (size_t i = 0; i < metrics().size(); ++i) md += "---|";
  md += "\n";
  std::string csv = "variant,description,seeds,activated_params,total_params";
  for (const Metric& m : metrics()) csv += std::string(",") + m.key + "_mean," + m.key + "_std";
  csv += "\n";
  std::vector<io::Series> curves;

  for (const AblationVariant& v : plan.variants) {
    auto it = by_variant.find(v.id);
    if (it == by_variant.end()) continue;
    const std::vector<const RunResult*>& rs = it->second;
    std::snprintf(line, sizeof line, "| %s (`%s`) | %.2fM / %.2fM |", v.description.c_str(), v.id.c_str(),
                  double(rs[0]->activated_parameters) / 1e6, double(rs[0]->total_parameters) / 1e6);
    md += line;
    std::snprintf(line, sizeof line, "%s,\"%s\",%zu,%lld,%lld", v.id.c_str(), v.description.c_str(), rs.size(),
                  (long long)rs[0]->activated_parameters, (long long)rs[0]->total_parameters);
    csv += line;
    for (const Metric& m : metrics()) {
      std::vector<double> values;
      for (const RunResult* r : rs)
        if (const RunPoint* p = point_at(*r, plan.steps)) values.push_back(m.get(*p));
      const Spread s = spread(values);
      md += ' ';
      md += std::isfinite(s.mean) ? fmt(m.format, s.mean) + " ± " + fmt(m.format, s.std) : std::string("–");
      md += " |";
      add_csv_field(csv, s.mean);
      add_csv_field(csv, s.std);
    }
    md += "\n";
    csv += "\n";
    io::Series curve;
    curve.name = v.description;
    for (int64_t step : plan.eval_steps()) {
      std::vector<double> fds;
      for (const RunResult* r : rs)
        if (const RunPoint* p = point_at(*r, step)) fds.push_back(number(p->eval, "fd"));
      const Spread s = spread(fds);
      if (!std::isfinite(s.mean)) continue;
      curve.x.push_back(double(step));
      curve.y.push_back(s.mean);
      curve.y_lo.push_back(s.mean - s.std);
      curve.y_hi.push_back(s.mean + s.std);
    }
    if (!curve.x.empty()) curves.push_back(curve);
  }
  md +=
      "\nspec. I/H: mutual information between a token's class and its expert over the entropy of the class "
      "(0: routing ignores the class, 1: each class owns its experts), mean over the MoE blocks; null→uncond: "
      "the share of null-label tokens the unconditional expert takes. Both from the routing analysis of the "
      "training weights at the last step.\n";

  std::string points =
      "variant,seed,step,fd,fd_floor,kid,precision,recall,accuracy,val_loss,specialisation,"
      "null_to_uncond,train_seconds,sample_seconds\n";
  for (const RunResult& r : runs)
    for (const RunPoint& p : r.points) {
      points += r.variant + "," + std::to_string(r.seed) + "," + std::to_string(p.step);
      add_csv_field(points, number(p.eval, "fd"));
      add_csv_field(points, number(p.eval, "fd_floor"));
      for (size_t i = 1; i < metrics().size(); ++i) add_csv_field(points, metrics()[i].get(p));
      add_csv_field(points, p.train_seconds);
      add_csv_field(points, p.sample_seconds);
      points += '\n';
    }

  io::write_file_atomic(dir + "/results.md", md);
  io::write_file_atomic(dir + "/results.csv", csv);
  io::write_file_atomic(dir + "/points.csv", points);
  if (!curves.empty()) {
    io::Series floor_line{"real-data floor", {}, {}, {}, {}};
    for (int64_t step : plan.eval_steps()) {
      floor_line.x.push_back(double(step));
      floor_line.y.push_back(floor.mean);
    }
    if (std::isfinite(floor.mean)) curves.push_back(floor_line);
    io::write_line_plot_png(dir + "/fd_vs_steps.png", curves,
                            {"FD against training steps (mean ± 1 std over seeds)", "training step",
                             "FD to the Fashion-MNIST test set (feature net)", false});
  }
  return md;
}

}  // namespace promoe::apps
