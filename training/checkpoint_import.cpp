// Import of official / PyTorch weights into promoe checkpoints, and export under official names.
#include "training/checkpoint_import.h"

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "io/pth.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "training/checkpoint.h"
#include "training/finite_check.h"
#include "training/official_layout.h"

namespace promoe::training {

namespace {

using io::pickle::Kind;
using io::pickle::Object;

constexpr const char* kCheckpointFormat = "promoe-checkpoint-1";

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// " (its shapes match preset X)" and the like, for mismatch messages.
std::string preset_hint(const std::map<std::string, Shape>& shapes) {
  const std::vector<std::string> p = presets_with_shapes(shapes);
  if (p.empty()) return " (its shapes match no preset)";
  return std::string(" (its shapes match preset") + (p.size() > 1 ? "s " : " ") + join(p) + ")";
}

// One state dict of the source: tensors by official name, read on demand.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual Tensor load(const std::string& name) const = 0;
  const std::map<std::string, Shape>& shapes() const { return shapes_; }
  std::string label;   // "model_state_dict of FILE", for messages
  std::string prefix;  // stripped from every name

 protected:
  // Strips "module." (DDP) and "_orig_mod." (torch.compile) where every name carries it.
  std::map<std::string, std::string> strip(const std::vector<std::string>& names) {
    std::vector<std::string> cut = names;
    for (bool again = true; again && !cut.empty();) {
      again = false;
      for (const char* p : {"module.", "_orig_mod."}) {
        const std::string pre(p);
        bool all = true;
        for (const std::string& n : cut) all = all && n.size() > pre.size() && n.compare(0, pre.size(), pre) == 0;
        if (!all) continue;
        for (std::string& n : cut) n = n.substr(pre.size());
        prefix += pre;
        again = true;
      }
    }
    std::map<std::string, std::string> official_to_file;
    for (size_t i = 0; i < names.size(); ++i) {
      PROMOE_CHECK(official_to_file.emplace(cut[i], names[i]).second, label, ": two tensors named '", cut[i], "'");
    }
    return official_to_file;
  }
  std::map<std::string, Shape> shapes_;
};

class PthSource : public WeightSource {
 public:
  PthSource(const io::PthFile& file, const Object& dict, const std::string& what) : file_(file) {
    label = what;
    PROMOE_CHECK(dict.kind == Kind::Dict, label, " is ", io::pickle::kind_name(dict.kind), ", not a dict");
    std::vector<std::string> names;
    for (const auto& [k, v] : dict.entries) {
      PROMOE_CHECK(k->kind == Kind::String, label, " has a key that is ", io::pickle::kind_name(k->kind),
                   ", not a string");
      PROMOE_CHECK(v->kind == Kind::Tensor, label, ": entry '", k->text, "' is ", io::pickle::kind_name(v->kind),
                   ", not a tensor");
      names.push_back(k->text);
    }
    for (const auto& [official, name] : strip(names)) {
      const Object* t = dict.find(name);
      objects_[official] = t;
      shapes_[official] = io::PthFile::shape(*t);
    }
  }
  Tensor load(const std::string& name) const override { return file_.load(*objects_.at(name)); }

 private:
  const io::PthFile& file_;
  std::map<std::string, const Object*> objects_;
};

class SafetensorsSource : public WeightSource {
 public:
  explicit SafetensorsSource(const std::string& path) : file_(path) {
    label = "safetensors file " + path;
    PROMOE_CHECK(!file_.metadata().count("format") || file_.metadata().at("format") != kCheckpointFormat, label,
                 " is already a promoe checkpoint");
    for (const auto& [official, name] : strip(file_.names())) {
      names_[official] = name;
      shapes_[official] = file_.shape(name);
    }
  }
  Tensor load(const std::string& name) const override { return file_.load(names_.at(name)); }

 private:
  io::SafeTensorsReader file_;
  std::map<std::string, std::string> names_;
};

// Every name and shape of `src` against the layout.
void check_layout(const WeightSource& src, const std::vector<OfficialTensor>& layout, const std::string& spec_name) {
  std::map<std::string, const OfficialTensor*> want;
  for (const OfficialTensor& t : layout) want[t.name] = &t;
  for (const OfficialTensor& t : layout) {
    auto it = src.shapes().find(t.name);
    if (it == src.shapes().end())
      PROMOE_FAIL(src.label, " has no tensor '", t.name, "' (", spec_name, " expects ", shape_str(t.shape), ")",
                  preset_hint(src.shapes()));
    if (it->second != t.shape)
      PROMOE_FAIL(src.label, ": tensor '", t.name, "' is ", shape_str(it->second), ", ", spec_name, " expects ",
                  shape_str(t.shape), preset_hint(src.shapes()));
  }
  for (const auto& [name, shape] : src.shapes())
    if (!want.count(name))
      PROMOE_FAIL(src.label, " has tensor '", name, "' ", shape_str(shape), ", which ", spec_name, " does not have",
                  preset_hint(src.shapes()));
}

// A tensor of the source as F32, refused when it holds a NaN or an infinity.
Tensor finite_f32(Tensor t, const std::string& name, const std::string& where) {
  if (t.dtype() != DType::F32) t = raw::to(t, DType::F32);
  PROMOE_CHECK(first_non_finite({{name, t}}).empty(), where, ": tensor '", name, "' holds NaN or infinite values");
  return t;
}

// The AdamW state of a torch optimizer state_dict, mapped onto the layout's parameters.
struct AdamState {
  std::vector<const Object*> exp_avg, exp_avg_sq;  // by layout index; nullptr: no state (zeros)
  int64_t step = 0;
  nlohmann::json hyper = nlohmann::json::object();
};

double number(const io::PthFile& file, const Object* o, const std::string& what) {
  if (o->kind == Kind::Int) return double(o->integer);
  if (o->kind == Kind::Float) return o->real;
  if (o->kind == Kind::Tensor && numel_of(io::PthFile::shape(*o)) == 1) return file.load(*o).item();
  PROMOE_FAIL(what, " is ", io::pickle::kind_name(o->kind), ", not a number");
}

AdamState read_adam(const io::PthFile& file, const Object& opt, const std::vector<OfficialTensor>& layout,
                    const std::string& spec_name) {
  const std::string where = "PyTorch file " + file.path() + ": optimizer_state_dict";
  const Object* state = opt.find("state");
  const Object* groups = opt.find("param_groups");
  PROMOE_CHECK(state && state->kind == Kind::Dict && groups && groups->kind == Kind::List, where,
               " is not a torch.optim state_dict (a dict with 'state' and 'param_groups')");
  AdamState a;
  std::vector<int64_t> ids;
  for (const Object* g : groups->items) {
    PROMOE_CHECK(g->kind == Kind::Dict, where, ": a param group is ", io::pickle::kind_name(g->kind));
    const Object* params = g->find("params");
    PROMOE_CHECK(params && params->kind == Kind::List, where, ": a param group has no 'params' list");
    for (const Object* id : params->items) {
      PROMOE_CHECK(id->kind == Kind::Int, where, ": a parameter id is ", io::pickle::kind_name(id->kind));
      ids.push_back(id->integer);
    }
    if (const Object* ams = g->find("amsgrad"))
      PROMOE_CHECK(ams->kind != Kind::Bool || !ams->integer, where, ": AMSGrad state cannot be continued here");
    if (a.hyper.empty())
      for (const char* key : {"lr", "eps", "weight_decay"})
        if (const Object* v = g->find(key)) a.hyper[key] = number(file, v, where + " '" + key + "'");
    if (const Object* b = g->find("betas");
        b && b->kind == Kind::Tuple && b->items.size() == 2 && !a.hyper.count("betas"))
      a.hyper["betas"] = {number(file, b->items[0], where + " betas"), number(file, b->items[1], where + " betas")};
  }
  // The ids number the official parameters() in order; an optimizer built over the trainable ones
  // only (without pos_embed) numbers one fewer.
  std::vector<size_t> params;  // layout index of each id
  for (size_t i = 0; i < layout.size(); ++i)
    if (ids.size() == layout.size() || !layout[i].fixed) params.push_back(i);
  PROMOE_CHECK(ids.size() == params.size(), where, " numbers ", ids.size(), " parameters, ", spec_name, " has ",
               layout.size(), " (", layout.size() - 1, " trainable)");
  a.exp_avg.assign(layout.size(), nullptr);
  a.exp_avg_sq.assign(layout.size(), nullptr);
  std::map<int64_t, size_t> seen;
  bool first = true;
  for (size_t k = 0; k < ids.size(); ++k) {
    const size_t li = params[k];
    const OfficialTensor& p = layout[li];
    PROMOE_CHECK(seen.emplace(ids[k], li).second, where, ": parameter id ", ids[k], " appears twice");
    const Object* s = state->find(ids[k]);
    if (!s || p.fixed) continue;  // never stepped (pos_embed): zero moments
    const std::string of = where + ": state of parameter id " + std::to_string(ids[k]) + " (" + p.name + ")";
    PROMOE_CHECK(s->kind == Kind::Dict, of, " is ", io::pickle::kind_name(s->kind), ", not a dict");
    for (auto [key, dst] : {std::pair{"exp_avg", &a.exp_avg}, {"exp_avg_sq", &a.exp_avg_sq}}) {
      const Object* t = s->find(key);
      PROMOE_CHECK(t && t->kind == Kind::Tensor, of, " has no tensor '", key, "'");
      PROMOE_CHECK(io::PthFile::shape(*t) == p.shape, of, ": ", key, " is ", shape_str(io::PthFile::shape(*t)), ", ",
                   spec_name, " expects ", shape_str(p.shape));
      (*dst)[li] = t;
    }
    const Object* st = s->find("step");
    PROMOE_CHECK(st, of, " has no 'step'");
    const double v = number(file, st, of + " 'step'");
    PROMOE_CHECK(v >= 0 && v == std::floor(v) && v < 9.0e15, of, ": step ", v, " is not a count");
    PROMOE_CHECK(first || int64_t(v) == a.step, of, ": step ", int64_t(v), " differs from the other parameters' ",
                 a.step, " (promoe keeps one AdamW step count)");
    a.step = int64_t(v);
    first = false;
  }
  return a;
}

}  // namespace

ImportSummary import_checkpoint(const ImportOptions& o) {
  ImportSummary sum;
  std::unique_ptr<io::PthFile> pth;
  std::unique_ptr<WeightSource> model, ema;
  const Object* opt = nullptr;
  const bool is_safetensors = o.source.size() > 12 && o.source.substr(o.source.size() - 12) == ".safetensors";
  if (is_safetensors) {
    model = std::make_unique<SafetensorsSource>(o.source);
    sum.kind = "state dict";
  } else {
    pth = std::make_unique<io::PthFile>(o.source);
    const Object& root = pth->root();
    const std::string file = "PyTorch file " + o.source;
    PROMOE_CHECK(root.kind == Kind::Dict, file, " holds ", io::pickle::kind_name(root.kind), ", not a dict");
    const Object* m = root.find("model_state_dict");
    const Object* e = root.find("ema_model_state_dict");
    if (m || e) {
      sum.kind = "training checkpoint";
      model = std::make_unique<PthSource>(*pth, m ? *m : *e,
                                          (m ? "model_state_dict of " : "ema_model_state_dict of ") + file);
      if (e) ema = std::make_unique<PthSource>(*pth, *e, "ema_model_state_dict of " + file);
      opt = root.find("optimizer_state_dict");
      if (opt)
        PROMOE_CHECK(opt->kind == Kind::Dict, file, ": optimizer_state_dict is ", io::pickle::kind_name(opt->kind));
      if (const Object* s = root.find("step")) {
        PROMOE_CHECK(s->kind == Kind::Int && s->integer >= 0, file, ": 'step' is not a non-negative int");
        sum.step = s->integer;
      }
    } else {
      std::vector<std::string> keys;
      bool tensors = !root.entries.empty();
      for (const auto& [k, v] : root.entries) {
        tensors = tensors && v->kind == Kind::Tensor;
        if (keys.size() < 8) keys.push_back(k->kind == Kind::String ? k->text : io::pickle::kind_name(k->kind));
      }
      PROMOE_CHECK(tensors, file,
                   " holds neither a training checkpoint (model_state_dict, ema_model_state_dict, "
                   "optimizer_state_dict) nor a state dict of tensors; its keys: ",
                   join(keys));
      model = std::make_unique<PthSource>(*pth, root, "state dict of " + file);
      sum.kind = "state dict";
    }
  }
  sum.stripped_prefix = model->prefix;
  sum.matching_presets = presets_with_shapes(model->shapes());

  ModelSpec spec;
  if (o.spec) {
    spec = *o.spec;
    sum.spec_name = o.spec_name;
  } else {
    PROMOE_CHECK(sum.matching_presets.size() == 1, model->label, ": its shapes match ",
                 sum.matching_presets.empty() ? "no preset" : "presets " + join(sum.matching_presets),
                 "; name the configuration with --preset or --config");
    spec = ModelSpec::preset(sum.matching_presets[0]);
    sum.spec_name = "preset " + sum.matching_presets[0];
  }
  const std::vector<OfficialTensor> layout = official_state_dict(spec);
  check_layout(*model, layout, sum.spec_name);
  if (ema) check_layout(*ema, layout, sum.spec_name);
  AdamState adam;
  if (opt) adam = read_adam(*pth, *opt, layout, sum.spec_name);
  sum.ema_from_file = ema != nullptr;
  sum.moments_from_file = opt != nullptr;
  sum.adam_step = adam.step;

  // What to write: the promoe checkpoint's tensors, each read from the source when its turn comes.
  std::vector<io::TensorSpec> specs;
  std::vector<std::function<Tensor()>> produce;
  const WeightSource& ema_src = ema ? *ema : *model;
  for (const OfficialTensor& t : layout) {
    specs.push_back({"model." + t.name, DType::F32, t.shape});
    produce.push_back([&, name = t.name] { return finite_f32(model->load(name), name, model->label); });
  }
  for (const OfficialTensor& t : layout) {
    specs.push_back({"ema." + t.name, DType::F32, t.shape});
    produce.push_back([&, name = t.name] { return finite_f32(ema_src.load(name), name, ema_src.label); });
  }
  for (size_t i = 0; i < layout.size(); ++i) {
    if (layout[i].fixed) continue;
    for (auto [key, moments] : {std::pair{"exp_avg", &adam.exp_avg}, {"exp_avg_sq", &adam.exp_avg_sq}}) {
      const std::string name = std::string("opt.") + key + "." + layout[i].name;
      const Object* src = moments->empty() ? nullptr : (*moments)[i];
      specs.push_back({name, DType::F32, layout[i].shape});
      produce.push_back([&, src, name, shape = layout[i].shape] {
        return src ? finite_f32(pth->load(*src), name, "optimizer_state_dict of PyTorch file " + o.source)
                   : raw::zeros(shape);
      });
    }
  }
  nlohmann::json train{{"imported_from", o.source}, {"kind", sum.kind}};
  if (sum.kind == "training checkpoint") train["objective"] = "rf";  // the official train.py's
  if (opt) train["optimizer"] = adam.hyper;
  const io::Metadata meta{{"format", kCheckpointFormat},
                          {"model_config", spec.to_json()},
                          {"train_config", train.dump()},
                          {"step", std::to_string(sum.step)},
                          {"adam_step", std::to_string(sum.adam_step)},
                          {"rng_seed", std::to_string(o.seed + 1)},  // the trainer's generator: seed + 1
                          {"rng_offset", "0"}};
  io::write_safetensors_streamed(o.out, specs, meta, [&](size_t i) { return produce[i](); });
  sum.tensors = specs.size();
  return sum;
}

ExportSummary export_weights(const std::string& checkpoint, const std::string& out, const std::string& weights) {
  PROMOE_CHECK(weights == "ema" || weights == "model", "export: --weights must be ema or model, got '", weights, "'");
  const io::SafeTensorsReader file(checkpoint);
  const CheckpointState state = checkpoint_state(checkpoint, file.metadata());
  const ModelSpec spec = ModelSpec::from_file(state.model_config, checkpoint);
  const std::vector<OfficialTensor> layout = official_state_dict(spec);
  std::vector<io::TensorSpec> specs;
  std::vector<std::string> keys;
  for (const OfficialTensor& t : layout) {
    std::string key = weights + "." + t.name;
    if (t.fixed && !file.has(key)) key = "model." + t.name;  // checkpoints before "ema.pos_embed" was saved
    PROMOE_CHECK(file.has(key), "checkpoint ", checkpoint, ": missing tensor '", key, "'");
    PROMOE_CHECK(file.dtype(key) == DType::F32 && file.shape(key) == t.shape, "checkpoint ", checkpoint, ": tensor '",
                 key, "' is ", dtype_name(file.dtype(key)), shape_str(file.shape(key)), ", the model expects f32",
                 shape_str(t.shape));
    specs.push_back({t.name, DType::F32, t.shape});
    keys.push_back(key);
  }
  const io::Metadata meta{
      {"format", "pt"}, {"promoe_checkpoint", checkpoint}, {"step", std::to_string(state.step)}, {"weights", weights}};
  io::write_safetensors_streamed(
      out, specs, meta, [&](size_t i) { return finite_f32(file.load(keys[i]), keys[i], "checkpoint " + checkpoint); });
  return {state.step, specs.size()};
}

}  // namespace promoe::training
