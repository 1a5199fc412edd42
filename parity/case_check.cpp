// The parity harness behind `promoe check`.
#include "parity/case_check.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/ops.h"
#include "diffusion/gaussian_diffusion.h"
#include "diffusion/rectified_flow.h"
#include "io/safetensors.h"
#include "nn/optim.h"
#include "training/model_spec.h"

namespace promoe::parity {

namespace {

using json = nlohmann::json;

std::map<std::string, double> default_tolerances() {
  return {{"output", 1e-5}, {"loss", 1e-5}, {"grad", 1e-4}, {"train", 1e-4}, {"route", 1e-5}};
}

std::string group_of(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  if (starts("output.") || starts("act.") || name == "input.x_t") return "output";
  if (starts("loss.")) return "loss";
  if (starts("grad.")) return "grad";
  if (starts("route.")) return "route";
  if (starts("train.")) {
    if (name.find(".loss_total") != std::string::npos) return "loss";
    if (name.find(".grad_norm_preclip") != std::string::npos) return "grad";
    return "train";
  }
  return "";
}

// Relative error ‖a − b‖ / ‖b‖ in double; max |a| when b is all zeros (then judged against 1e-6).
double relative_error(const Tensor& ours, const Tensor& ref, bool* ref_is_zero) {
  std::vector<double> a = ours.to_vector<double>(), b = ref.to_vector<double>();
  double diff = 0, norm = 0, max_a = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
    max_a = std::max(max_a, std::abs(a[i]));
  }
  *ref_is_zero = norm == 0;
  if (norm == 0) return max_a;
  return std::sqrt(diff / norm);
}

struct Checker {
  const io::SafeTensors& file;
  std::map<std::string, double> tolerance;
  CaseResult result;

  void compare(const std::string& name, const Tensor& ours) {
    const Tensor& ref = file.get(name);
    std::string group = group_of(name);
    Comparison c{name, group, 0, tolerance.at(group), true};
    PROMOE_CHECK(ours.defined(), "check: ", file.path, ": nothing computed for ", name);
    if (ours.numel() != ref.numel()) {
      c.ok = false;
      c.error = INFINITY;
      result.comparisons.push_back(c);
      return;
    }
    bool zero = false;
    c.error = relative_error(ours, ref, &zero);
    if (zero) c.tolerance = 1e-6;
    c.ok = c.error <= c.tolerance;
    result.comparisons.push_back(c);
  }

  // Indices must match exactly; reported as the fraction of differing entries.
  void compare_indices(const std::string& name, const Tensor& ours) {
    std::vector<int64_t> a = ours.to_vector<int64_t>(), b = file.get_index(name).to_vector<int64_t>();
    Comparison c{name, "route", 0, 0, true};
    size_t wrong = a.size() == b.size() ? 0 : std::max(a.size(), b.size());
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) wrong += a[i] != b[i];
    c.error = a.empty() ? 0 : double(wrong) / double(std::max(a.size(), b.size()));
    c.ok = wrong == 0;
    result.comparisons.push_back(c);
  }
};

// The case's metadata `key` read by `read` from its JSON (or number) text; malformed text or a
// value of the wrong type is a promoe::Error naming the case and the key.
template <typename F>
auto read_metadata(const io::SafeTensors& file, const std::string& key, F read) {
  const std::string& text = file.metadata(key);
  try {
    return read(text);
  } catch (const json::exception& e) {
    PROMOE_FAIL("check: ", file.path, ": metadata '", key, "' is malformed: ", e.what());
  } catch (const std::logic_error&) {  // std::stod
    PROMOE_FAIL("check: ", file.path, ": metadata '", key, "' is not a number: ", text);
  }
}

struct Pass {
  Tensor out, mse, vlb, total, x_t;
  nn::ForwardContext ctx;
};

}  // namespace

bool CaseResult::ok() const {
  for (auto& c : comparisons)
    if (!c.ok) return false;
  return !comparisons.empty();
}

std::string CaseResult::summary() const {
  std::map<std::string, const Comparison*> worst;
  std::map<std::string, int> counts;
  for (auto& c : comparisons) {
    ++counts[c.group];
    auto& w = worst[c.group];
    if (!w || c.error / std::max(c.tolerance, 1e-30) > w->error / std::max(w->tolerance, 1e-30)) w = &c;
  }
  std::ostringstream os;
  os << path << ": " << (ok() ? "PASS" : "FAIL") << "\n";
  for (auto& [group, c] : worst)
    os << "  " << group << ": " << counts[group] << " tensors, worst " << c->name << " error " << c->error
       << " (tolerance " << c->tolerance << ")\n";
  for (auto& c : comparisons)
    if (!c.ok) os << "  FAIL " << c.name << " error " << c.error << " > " << c.tolerance << "\n";
  return os.str();
}

CaseResult check_case(const std::string& path, Device device) {
  io::SafeTensors file = io::read_safetensors(path);
  const std::string objective = file.has_metadata("objective") ? file.metadata("objective") : "rf";
  PROMOE_CHECK(objective == "rf" || objective == "ddpm", "check: ", path, ": unknown objective '", objective, "'");

  Checker checker{file, default_tolerances(), {}};
  checker.result.path = path;
  if (file.has_metadata("tolerance"))
    read_metadata(file, "tolerance", [&](const std::string& text) {
      for (auto& [k, v] : json::parse(text).items()) checker.tolerance[k] = v.get<double>();
      return 0;
    });

  training::ModelSpec spec = training::ModelSpec::from_file(file.metadata("config"), path);
  spec.dit.class_dropout_prob = 0;  // a check applies no label dropout
  std::shared_ptr<nn::DiT> model = spec.build(0);
  model->train(true);

  // Parameters: every model tensor must be in the case, with its shape.
  NamedTensors state = model->state_dict();
  for (auto& [name, t] : state) {
    if (name == "pos_embed" && !file.has(name)) continue;
    PROMOE_CHECK(file.has(name), "check: ", path, ": the case has no parameter '", name, "' that the model needs");
    const Tensor& src = file.get(name);
    PROMOE_CHECK(src.shape() == t.shape(), "check: ", path, ": parameter '", name, "' is ", shape_str(src.shape()),
                 " in the case but ", shape_str(t.shape()), " in the model");
    raw::copy_(t, src);
  }
  model->to(device);

  const Tensor x0 = raw::to(file.get("input.x0"), device), noise = raw::to(file.get("input.noise"), device);
  const Tensor y = raw::to(file.get_index("input.y"), device);
  auto denoiser = [&](nn::ForwardContext& ctx) {
    return [&model, &ctx](const Tensor& x, const Tensor& t, const Tensor& labels) {
      return model->forward(x, t, labels, ctx);
    };
  };

  auto run_pass = [&](bool record) {
    Pass p;
    p.ctx.aux = true;
    p.ctx.record = record;
    if (objective == "rf") {
      diffusion::RFLoss rf =
          diffusion::rf_training_loss(denoiser(p.ctx), x0, y, raw::to(file.get("input.sigma"), device), noise);
      p.out = rf.model_out;
      p.mse = rf.loss;
      p.x_t = rf.x_t;
      p.total = p.mse;
    } else {
      static const diffusion::GaussianDiffusion gd = diffusion::GaussianDiffusion::create("");
      diffusion::DDPMLoss d =
          gd.training_losses(denoiser(p.ctx), x0, y, raw::to(file.get_index("input.t"), device), noise);
      p.out = d.model_out;
      p.mse = d.mse;
      p.vlb = d.vlb;
      p.x_t = d.x_t;
      p.total = d.loss;
    }
    for (auto& [name, aux] : p.ctx.aux_losses) p.total = p.total + aux;
    return p;
  };

  Pass pass = run_pass(true);
  checker.compare("input.x_t", pass.x_t);
  checker.compare("output.model_out", pass.out);
  checker.compare("loss.mse", pass.mse);
  if (pass.vlb.defined() && file.has("loss.vlb")) checker.compare("loss.vlb", pass.vlb);
  for (auto& [name, l] : pass.ctx.aux_unweighted)
    if (file.has("loss." + name)) checker.compare("loss." + name, l);
  checker.compare("loss.total", pass.total);
  for (auto& [name, t] : pass.ctx.records) {
    if (!file.has(name)) continue;
    if (t.dtype() == DType::I64)
      checker.compare_indices(name, t);
    else
      checker.compare(name, t);
  }
  // Every recorded reference must have been produced.
  for (auto& name : file.order) {
    std::string g = group_of(name);
    if ((name.rfind("act.", 0) == 0 || name.rfind("route.", 0) == 0 || name.rfind("loss.", 0) == 0) &&
        !pass.ctx.records.count(name)) {
      bool produced = name == "loss.mse" || name == "loss.total" || (name == "loss.vlb" && pass.vlb.defined());
      for (auto& [n, l] : pass.ctx.aux_unweighted) produced |= "loss." + n == name;
      PROMOE_CHECK(produced, "check: ", path, ": the case records '", name, "' but this model computes no such tensor");
    }
  }

  pass.total.backward();
  NamedTensors params = model->named_parameters();
  for (auto& [name, t] : params) {
    if (!file.has("grad." + name)) continue;
    Tensor g = t.grad().defined() ? t.grad() : raw::zeros(t.shape(), t.dtype(), t.device());
    checker.compare("grad." + name, g);
  }

  // Optional training steps: clip, AdamW, compare; every step reuses the same inputs.
  if (file.has("train.step0.loss_total")) {
    const nn::AdamWOptions opt = read_metadata(file, "adamw", [](const std::string& text) {
      const json adam = json::parse(text);
      nn::AdamWOptions o;
      o.lr = adam.at("lr").get<double>();
      o.beta1 = adam.at("betas").at(0).get<double>();
      o.beta2 = adam.at("betas").at(1).get<double>();
      o.eps = adam.at("eps").get<double>();
      o.weight_decay = adam.at("weight_decay").get<double>();
      return o;
    });
    const double max_norm =
        read_metadata(file, "clip_grad_norm", [](const std::string& text) { return std::stod(text); });
    nn::AdamW adamw(params, opt);
    for (int s = 0; file.has("train.step" + std::to_string(s) + ".loss_total"); ++s) {
      const std::string key = "train.step" + std::to_string(s);
      if (s > 0) {
        adamw.zero_grad();
        pass = run_pass(false);
        pass.total.backward();
      }
      checker.compare(key + ".loss_total", pass.total);
      double norm = nn::clip_grad_norm(params, max_norm);
      if (file.has(key + ".grad_norm_preclip")) checker.compare(key + ".grad_norm_preclip", raw::scalar(norm));
      adamw.step();
      for (auto& [name, t] : params)
        if (file.has(key + ".param." + name)) checker.compare(key + ".param." + name, t);
    }
  }
  return checker.result;
}

}  // namespace promoe::parity
