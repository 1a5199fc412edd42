// Checkpoint import and export (training/checkpoint_import.h) against files PyTorch wrote
// (tests/data/pth, from tests/twin/make_pth_goldens.py): an official-layout training checkpoint
// imports with its step and AdamW state, so one more AdamW step here equals PyTorch's after its
// own resume; its EMA weights sample, from the same noise, what the official sampler gave (10 Euler
// steps, guidance 1 and 4); a DDP-prefixed state dict imports; the export holds exactly the
// official state_dict; the official layout equals the built models; mismatches name the tensor,
// both shapes and the preset the shapes match.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "expect_error.h"
#include "io/pth.h"
#include "io/safetensors.h"
#include "nn/optim.h"
#include "pth_test_util.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"
#include "training/checkpoint.h"
#include "training/checkpoint_import.h"
#include "training/official_layout.h"
#include "training/sampling.h"

using namespace promoe;
using promoe::test::expect_error;

namespace {

std::string data_file(const std::string& name) { return std::string(PROMOE_SOURCE_DIR) + "/tests/data/pth/" + name; }

training::ModelSpec small_spec() {
  std::ifstream in(data_file("config.json"));
  std::stringstream s;
  s << in.rdbuf();
  return training::ModelSpec::from_json(s.str());
}

std::string import_small(const std::string& source, const std::string& out) {
  training::ImportOptions o;
  o.source = source;
  o.out = out;
  o.spec = small_spec();
  o.spec_name = "the small model";
  training::import_checkpoint(o);
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return max_abs(raw::sub(raw::to(a, DType::F64), raw::to(b, DType::F64)));
}

// The model's EMA weights from a checkpoint, sampled from the goldens' noise and labels.
Tensor sample_from(const std::string& ckpt, const io::SafeTensors& gold, double cfg) {
  auto model = small_spec().build(0);
  training::load_ema_weights(ckpt, *model);
  model->train(false);
  training::SampleOptions o;
  o.labels = gold.get("labels").to_vector<int64_t>();
  o.noise = gold.get("noise");
  o.steps = 10;
  o.cfg_scale = cfg;
  o.sampler = "euler";
  o.progress = false;
  return training::generate(*model, o);
}

}  // namespace

TEST_CASE("official layout: the built models' names and shapes, pos_embed first, PyTorch's order") {
  std::vector<training::ModelSpec> specs;
  for (const char* p : {"ProMoE-Tiny", "ProMoE-EC-Tiny", "TC-Tiny", "EC-Tiny", "Dense-Tiny"})
    specs.push_back(training::ModelSpec::preset(p));
  specs.push_back(small_spec());
  for (const training::ModelSpec& spec : specs) {
    const std::vector<training::OfficialTensor> layout = training::official_state_dict(spec);
    auto model = spec.build(0);
    std::map<std::string, Shape> built;
    for (auto& [name, t] : model->state_dict()) built[name] = t.shape();
    std::map<std::string, Shape> listed;
    for (const auto& t : layout) listed[t.name] = t.shape;
    CHECK(listed == built);
    CHECK(layout.size() == built.size());
    CHECK(layout[0].name == "pos_embed");
    CHECK(layout[0].fixed);
    CHECK(layout.back().name == "final_layer.adaLN_modulation.1.bias");
  }
  // Where PyTorch's order differs from promoe's: the final layer's linear first; TC-DiT's experts
  // before its gate.
  auto index = [](const std::vector<training::OfficialTensor>& l, const std::string& name) {
    for (size_t i = 0; i < l.size(); ++i)
      if (l[i].name == name) return i;
    FAIL("no ", name);
    return size_t(0);
  };
  const auto tc = training::official_state_dict(training::ModelSpec::preset("TC-Tiny"));
  CHECK(index(tc, "final_layer.linear.weight") < index(tc, "final_layer.adaLN_modulation.1.weight"));
  CHECK(index(tc, "blocks.1.mlp.experts.7.fc2.bias") < index(tc, "blocks.1.mlp.gate.weight"));
  // The optimizer PyTorch saved numbers the parameters in this order (ids 0..52 over 53 tensors).
  CHECK(training::official_state_dict(small_spec()).size() == 53);
  // Shapes identify presets up to presets of the same shapes.
  std::map<std::string, Shape> tiny;
  for (const auto& t : training::official_state_dict(training::ModelSpec::preset("ProMoE-Tiny")))
    tiny[t.name] = t.shape;
  CHECK(training::presets_with_shapes(tiny) == std::vector<std::string>{"ProMoE-Tiny", "ProMoE-EC-Tiny"});
  std::map<std::string, Shape> xl;
  for (const auto& t : training::official_state_dict(training::ModelSpec::preset("ProMoE-XL"))) xl[t.name] = t.shape;
  CHECK(training::presets_with_shapes(xl) == std::vector<std::string>{"ProMoE-XL"});
  CHECK(xl.at("blocks.27.mlp.experts.12.down_proj.weight") == Shape{1152, 2304});
}

TEST_CASE(
    "import: an official training checkpoint resumes as PyTorch resumes it, and samples as the official sampler") {
  test::TempDir dir("import_official");
  const std::string ckpt = import_small(data_file("official_small.pth"), dir.file("ckpt.safetensors"));
  const io::SafeTensors gold = io::read_safetensors(data_file("goldens.safetensors"));

  // The step as train.py saved it (loop step 1, after two optimizer steps) and its AdamW step count.
  training::CheckpointState state = training::read_checkpoint_state(ckpt);
  CHECK(state.step == 1);
  const training::ModelSpec spec = small_spec();
  CHECK(state.model_config == spec.to_json());
  CHECK(nlohmann::json::parse(state.train_config)["objective"] == "rf");
  auto model = spec.build(3);
  NamedTensors params = model->named_parameters();
  const nlohmann::json adam = nlohmann::json::parse(gold.metadata("adamw"));
  nn::AdamW opt(params, {adam["lr"].get<double>(), adam["betas"][0].get<double>(), adam["betas"][1].get<double>(),
                         adam["eps"].get<double>(), adam["weight_decay"].get<double>()});
  nn::Ema ema(params, 0.9);
  training::load_checkpoint(ckpt, *model, &ema, &opt, spec.to_json());
  CHECK(opt.step_count == 2);
  CHECK(max_diff(ema.shadow[0].second, params[0].second) > 0);  // the EMA is the file's own

  // One more step with PyTorch's gradients gives PyTorch's parameters.
  for (auto& [name, p] : params) p.set_grad(gold.get("resume.grad." + name));
  opt.step();
  double worst = 0;
  for (auto& [name, p] : params) {
    const Tensor& want = gold.get("resume.param." + name);
    CAPTURE(name);
    const double d = max_diff(p, want);
    CHECK(d <= 1e-6 + 1e-5 * max_abs(want));
    worst = std::max(worst, d);
  }
  MESSAGE("resumed AdamW step: max |promoe - PyTorch| = ", worst);

  // The EMA weights sample what the official sampler gave from the same noise.
  for (double cfg : {1.0, 4.0}) {
    const Tensor& want = gold.get(cfg == 1.0 ? "samples.cfg1" : "samples.cfg4");
    const Tensor got = sample_from(ckpt, gold, cfg);
    const double d = max_diff(got, want), scale = max_abs(want);
    MESSAGE("cfg ", cfg, ": max |promoe - PyTorch| = ", d, " of a scale ", scale);
    CHECK(d <= 1e-3 * scale);
  }
}

TEST_CASE("import: a DDP-prefixed bare state dict; export; the export imported back") {
  test::TempDir dir("import_bare");
  const std::string official = import_small(data_file("official_small.pth"), dir.file("official.safetensors"));
  const std::string bare = import_small(data_file("ema_ddp_small.pth"), dir.file("bare.safetensors"));
  const io::SafeTensors a = io::read_safetensors(official), b = io::read_safetensors(bare);
  CHECK(training::read_checkpoint_state(bare).step == 0);
  CHECK(b.metadata("adam_step") == "0");
  const std::vector<training::OfficialTensor> layout = training::official_state_dict(small_spec());
  for (const auto& t : layout) {
    CAPTURE(t.name);
    // The bare dict was the official file's EMA: it is both the weights and the EMA here.
    CHECK(max_diff(b.get("model." + t.name), a.get("ema." + t.name)) == 0);
    CHECK(max_diff(b.get("ema." + t.name), a.get("ema." + t.name)) == 0);
    if (!t.fixed) {
      CHECK(max_abs(b.get("opt.exp_avg_sq." + t.name)) == 0);
    }
  }

  // Export: exactly the official state_dict's names, in its order, pos_embed included.
  const std::string exported = dir.file("ema.safetensors");
  training::export_weights(official, exported, "ema");
  const io::SafeTensors e = io::read_safetensors(exported);
  std::vector<std::string> names;
  for (const auto& t : layout) names.push_back(t.name);
  CHECK(e.order == names);
  for (const auto& t : layout) CHECK(max_diff(e.get(t.name), a.get("ema." + t.name)) == 0);
  // ... which imports back (a safetensors state dict under the official names) to the same EMA.
  const std::string back = import_small(exported, dir.file("back.safetensors"));
  const io::SafeTensors c = io::read_safetensors(back);
  for (const auto& t : layout) CHECK(max_diff(c.get("ema." + t.name), a.get("ema." + t.name)) == 0);
  expect_error([&] { training::export_weights(official, dir.file("x.safetensors"), "shadow"); }, {"ema or model"});
  expect_error([&] { import_small(official, dir.file("y.safetensors")); }, {"already a promoe checkpoint"});
}

TEST_CASE("import: shapes identify the preset; mismatches name the tensor, both shapes and the matching preset") {
  test::TempDir dir("import_presets");
  // A ProMoE-Tiny checkpoint of promoe's own, exported under the official names.
  const training::ModelSpec tiny = training::ModelSpec::preset("ProMoE-Tiny");
  auto model = tiny.build(1);
  NamedTensors params = model->named_parameters();
  nn::AdamW opt(params, {});
  nn::Ema ema(params, 0.9);
  const std::string ckpt = dir.file("tiny.safetensors"), sd = dir.file("tiny_sd.safetensors");
  training::save_checkpoint(ckpt, *model, ema, opt, {tiny.to_json(), "{}", 0, 0, 0});
  training::export_weights(ckpt, sd, "model");

  training::ImportOptions o;
  o.source = sd;
  o.out = dir.file("imported.safetensors");
  // ProMoE-Tiny and ProMoE-EC-Tiny have the same shapes: the file cannot tell them apart.
  expect_error([&] { training::import_checkpoint(o); },
               {"match presets ProMoE-Tiny, ProMoE-EC-Tiny", "name the configuration with --preset"});
  {
    // Dense-Tiny's shapes are its own.
    const training::ModelSpec dense = training::ModelSpec::preset("Dense-Tiny");
    auto m = dense.build(2);
    NamedTensors p = m->named_parameters();
    nn::AdamW a(p, {});
    nn::Ema e(p, 0.9);
    training::save_checkpoint(dir.file("dense.safetensors"), *m, e, a, {dense.to_json(), "{}", 0, 0, 0});
    training::export_weights(dir.file("dense.safetensors"), dir.file("dense_sd.safetensors"), "ema");
    training::ImportOptions d = o;
    d.source = dir.file("dense_sd.safetensors");
    const training::ImportSummary s = training::import_checkpoint(d);
    CHECK(s.spec_name == "preset Dense-Tiny");
    CHECK(s.matching_presets == std::vector<std::string>{"Dense-Tiny"});
  }
  o.spec = training::ModelSpec::preset("Dense-Tiny");
  o.spec_name = "preset Dense-Tiny";
  expect_error(
      [&] { training::import_checkpoint(o); },
      {"tensor 'blocks.1.mlp.fc1.weight'", "preset Dense-Tiny expects [512, 128]", "match presets ProMoE-Tiny"});
  o.spec = training::ModelSpec::preset("ProMoE-S");
  o.spec_name = "preset ProMoE-S";
  expect_error([&] { training::import_checkpoint(o); }, {"'pos_embed' is [1, 64, 128]", "[1, 256, 384]"});
  o.spec = small_spec();
  o.spec_name = "the small model";
  o.source = data_file("official_small.pth");
  o.spec->moe->num_experts = 3;
  expect_error([&] { training::import_checkpoint(o); },
               {"blocks.1.mlp.cluster_centers", "is [4, 32]", "expects [3, 32]", "match no preset"});
  CHECK(!std::filesystem::exists(o.out + ".tmp." + std::to_string(::getpid())));
}

TEST_CASE("import: crafted optimizer states and values are refused with the tensor named") {
  test::TempDir dir("import_crafted");
  // A bare state dict of promoe's small model, rewritten as official-layout .pth archives.
  const std::vector<training::OfficialTensor> layout = training::official_state_dict(small_spec());
  int n = 0;
  auto archive = [&](const std::function<void(test::PickleWriter&)>& opt_state, bool nan = false) {
    test::PickleWriter w;
    std::vector<std::pair<std::string, std::string>> storages;
    w.dict().mark().str("step").integer(5).str("model_state_dict").dict().mark();
    for (size_t i = 0; i < layout.size(); ++i) {
      int64_t numel = numel_of(layout[i].shape);
      w.str(layout[i].name).tensor(std::to_string(i), layout[i].shape);
      std::string bytes = test::f32_bytes(numel, 0.01f);
      if (nan && i == 3) std::memcpy(bytes.data(), "\x00\x00\xc0\x7f", 4);
      storages.emplace_back(std::to_string(i), bytes);
    }
    w.setitems();
    if (opt_state) {
      w.str("optimizer_state_dict");
      opt_state(w);
    }
    w.setitems();
    const std::string p = dir.file("c" + std::to_string(n++) + ".pth");
    test::write_bytes(p, test::torch_archive(w.finish(), storages));
    return p;
  };
  training::ImportOptions o;
  o.spec = small_spec();
  o.spec_name = "the small model";
  o.out = dir.file("out.safetensors");
  auto import = [&](const std::string& src) {
    o.source = src;
    return training::import_checkpoint(o);
  };
  // No optimizer: weights = EMA, zero moments, the file's step.
  CHECK(import(archive(nullptr)).step == 5);
  // A NaN in a weight: refused, nothing written.
  std::filesystem::remove(o.out);
  expect_error([&] { import(archive(nullptr, true)); }, {"t_embedder.mlp.0.weight", "NaN or infinite"});
  CHECK(!std::filesystem::exists(o.out));
  // Parameter ids that do not number the model's parameters.
  auto groups = [](int64_t count, bool amsgrad = false) {
    return [count, amsgrad](test::PickleWriter& w) {
      w.dict().mark().str("state").dict().str("param_groups").list().dict().mark();
      w.str("lr").real(1e-4).str("amsgrad").boolean(amsgrad).str("params").list().mark();
      for (int64_t i = 0; i < count; ++i) w.integer(i);
      w.appends().setitems().op('a').setitems();
    };
  };
  expect_error([&] { import(archive(groups(7))); }, {"numbers 7 parameters", "has 53 (52 trainable)"});
  expect_error([&] { import(archive(groups(53, true))); }, {"AMSGrad"});
  CHECK(import(archive(groups(53))).adam_step == 0);     // no state yet: zero moments
  CHECK(import(archive(groups(52))).moments_from_file);  // an optimizer over the trainable ones only
  // A moment of the wrong shape, and step counts that differ between parameters.
  auto state = [&](const Shape& shape, int64_t step2) {
    return [&layout, shape, step2](test::PickleWriter& w) {
      w.dict().mark().str("state").dict().mark();
      for (int64_t id : {1, 2}) {
        const Shape& s = id == 1 ? shape : layout[size_t(id)].shape;
        w.integer(id).dict().mark().str("step").real(id == 1 ? 3.0 : double(step2));
        w.str("exp_avg").tensor("m" + std::to_string(id), s).str("exp_avg_sq").tensor("v" + std::to_string(id), s);
        w.setitems();
      }
      w.setitems().str("param_groups").list().dict().mark().str("params").list().mark();
      for (int64_t i = 0; i < 53; ++i) w.integer(i);
      w.appends().setitems().op('a').setitems();
    };
  };
  auto with_moments = [&](const Shape& shape, int64_t step2) {
    // The moment storages "m1", "v1", "m2", "v2" are added to the archive's members.
    test::PickleWriter w;
    std::vector<std::pair<std::string, std::string>> storages;
    w.dict().mark().str("model_state_dict").dict().mark();
    for (size_t i = 0; i < layout.size(); ++i) {
      w.str(layout[i].name).tensor(std::to_string(i), layout[i].shape);
      storages.emplace_back(std::to_string(i), test::f32_bytes(numel_of(layout[i].shape)));
    }
    w.setitems().str("optimizer_state_dict");
    state(shape, step2)(w);
    w.setitems();
    for (int64_t id : {1, 2}) {
      const Shape& s = id == 1 ? shape : layout[size_t(id)].shape;
      storages.emplace_back("m" + std::to_string(id), test::f32_bytes(numel_of(s)));
      storages.emplace_back("v" + std::to_string(id), test::f32_bytes(numel_of(s)));
    }
    const std::string p = dir.file("m" + std::to_string(n++) + ".pth");
    test::write_bytes(p, test::torch_archive(w.finish(), storages));
    return p;
  };
  const training::ImportSummary ok = import(with_moments(layout[1].shape, 3));
  CHECK(ok.adam_step == 3);
  const io::SafeTensors out = io::read_safetensors(o.out);
  CHECK(out.get("opt.exp_avg.x_embedder.proj.weight").to_vector<float>()[5] == 5.0f);
  CHECK(max_abs(out.get("opt.exp_avg.t_embedder.mlp.0.weight")) == 0);  // id 3: no state
  expect_error(
      [&] {
        import(with_moments({2, 2}, 3));
      },
      {"parameter id 1 (x_embedder.proj.weight)", "exp_avg is [2, 2]", "expects [32, 1, 4, 4]"});
  expect_error([&] { import(with_moments(layout[1].shape, 4)); }, {"parameter id 2", "step 4 differs", "3"});
}
