// The validation loss: deterministic, and logging it leaves training (and exact resume) untouched.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint_compare.h"
#include "io/fashion_mnist.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "training/trainer.h"
#include "training/validation.h"

using namespace promoe;
namespace fs = std::filesystem;

namespace {

training::TrainOptions run(const std::string& name, int64_t val_every) {
  training::TrainOptions o;
  o.preset = "ProMoE-Tiny";
  o.steps = 4;
  o.batch = 4;
  o.lr = 1e-3;
  o.limit = 32;
  o.val_every = val_every;
  o.val_size = 8;
  o.checkpoint_every = 100;
  o.progress = false;
  o.seed = 3;
  o.out = (fs::temp_directory_path() / ("promoe_val_" + name + "_" + std::to_string(::getpid()))).string();
  fs::remove_all(o.out);
  return o;
}

// step -> val_loss of the log lines that have one.
std::map<int64_t, double> val_losses(const std::string& dir) {
  std::map<int64_t, double> out;
  std::ifstream in(dir + "/log.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) out[j["step"].get<int64_t>()] = j["val_loss"].get<double>();
  }
  return out;
}

}  // namespace

TEST_CASE("validation loss: logged on fixed steps, deterministic, and training with it resumes bit for bit") {
  if (!io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Train)) {
    MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
    return;
  }
  training::TrainOptions plain = run("plain", 0), straight = run("straight", 2), first = run("resumed", 2);
  training::train(plain);
  training::train(straight);
  first.stop_after = 3;
  training::train(first);
  training::TrainOptions second = first;
  second.stop_after = -1;
  second.resume = true;
  training::train(second);
  test::check_same_checkpoints(plain.out, straight.out);  // validating does not perturb training
  test::check_same_checkpoints(straight.out, second.out);
  const std::map<int64_t, double> a = val_losses(straight.out), b = val_losses(second.out);
  REQUIRE(a.size() == 2);
  CHECK(a.count(2) == 1);
  CHECK(a.count(4) == 1);
  CHECK(a == b);
  CHECK(val_losses(plain.out).empty());
  for (const auto& [step, v] : a) CHECK(std::isfinite(v));
  for (auto* o : {&plain, &straight, &first}) fs::remove_all(o->out);
}

TEST_CASE("validation loss: the same weights and set give the same value, another set another") {
  if (!io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Test)) {
    MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
    return;
  }
  io::LabelledImages t = io::load_fashion_mnist(io::Split::Test, io::kFashionMnistDir, 6);
  training::ModelSpec spec = training::ModelSpec::preset("Dense-Tiny");
  auto model = spec.build(1);
  const double v = training::validation_loss(*model, "rf", t.images, t.labels, 4);
  CHECK(v == training::validation_loss(*model, "rf", t.images, t.labels, 4));
  CHECK(v != training::validation_loss(*model, "rf", raw::narrow(t.images, 0, 0, 4), raw::narrow(t.labels, 0, 0, 4)));
  CHECK(model->is_training());  // the mode is restored
  CHECK(std::isfinite(training::validation_loss(*model, "ddpm", t.images, t.labels, 4)));
}
