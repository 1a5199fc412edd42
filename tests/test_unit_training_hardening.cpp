// Training that diverges or was killed: a non-finite state is never saved and never loaded, the
// error names a checkpoint that really is good, a killed writer's temp files are removed, and a
// resumed run's log holds each step once.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "io/fashion_mnist.h"
#include "io/safetensors.h"
#include "moe/model.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

using namespace promoe;
namespace fs = std::filesystem;
using promoe::test::expect_error;

namespace {

bool have_data() {
  if (io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Train)) return true;
  MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
  return false;
}

training::TrainOptions tiny_run(const std::string& out, int64_t steps) {
  training::TrainOptions o;
  o.preset = "Dense-Tiny";
  o.steps = steps;
  o.batch = 2;
  o.lr = 1e-3;
  o.limit = 16;
  o.out = out;
  o.checkpoint_every = 100;
  o.log_every = 1;
  o.progress = false;
  return o;
}

std::string fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("promoe_harden_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

// Every float tensor of the file is finite.
bool file_is_finite(const std::string& path) {
  for (auto& [name, t] : io::read_safetensors(path).tensors)
    for (double v : t.to_vector<double>())
      if (!std::isfinite(v)) return false;
  return true;
}

std::vector<int64_t> logged_steps(const std::string& dir) {
  std::vector<int64_t> steps;
  std::ifstream in(dir + "/log.jsonl");
  for (std::string line; std::getline(in, line);) steps.push_back(nlohmann::json::parse(line).at("step"));
  return steps;
}

}  // namespace

TEST_CASE("an exploding update is refused before a checkpoint is written, and the error says none was") {
  if (!have_data()) return;
  const std::string dir = fresh_dir("explode");
  training::TrainOptions o = tiny_run(dir, 3);
  o.lr = 1e39;  // finite and positive: accepted, and the very first update overflows f32
  o.checkpoint_every = 1;
  expect_error([&] { training::train(o); }, {"step 1", "non-finite", "No checkpoint was written yet"});
  CHECK_FALSE(fs::exists(dir + "/checkpoint.safetensors"));
  fs::remove_all(dir);
}

TEST_CASE("a run that diverges after a good checkpoint keeps it, and the error names it") {
  if (!have_data()) return;
  const std::string dir = fresh_dir("diverge");
  training::train(tiny_run(dir, 2));
  const std::string ckpt = dir + "/checkpoint.safetensors";
  training::TrainOptions more = tiny_run(dir, 6);
  more.resume = true;
  more.lr = 1e39;
  more.checkpoint_every = 1;
  expect_error([&] { training::train(more); }, {"step 3", ckpt + " (step 2)"});
  CHECK(training::read_checkpoint_state(ckpt).step == 2);
  CHECK(file_is_finite(ckpt));
  // With checkpoints far apart the loss turns NaN first; the message still names the step-2 file.
  more.checkpoint_every = 100;
  expect_error([&] { training::train(more); }, {"stopping", ckpt + " (step 2)"});
  CHECK(file_is_finite(ckpt));
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint holding NaN weights is refused on load, for resuming and for sampling") {
  if (!have_data()) return;
  const std::string dir = fresh_dir("nanload");
  training::train(tiny_run(dir, 1));
  const std::string ckpt = dir + "/checkpoint.safetensors";
  io::SafeTensors file = io::read_safetensors(ckpt);
  io::NamedTensors tensors;
  for (const std::string& name : file.order) {
    Tensor t = file.tensors.at(name);
    if (name == "ema.final_layer.linear.weight" || name == "model.final_layer.linear.weight") t.data<float>()[3] = NAN;
    tensors.emplace_back(name, t);
  }
  io::write_safetensors(ckpt, tensors, file.meta);

  training::ModelSpec spec = training::ModelSpec::preset("Dense-Tiny");
  auto model = spec.build(0);
  expect_error([&] { training::load_ema_weights(ckpt, *model); }, {ckpt, "NaN or infinite"});
  training::TrainOptions again = tiny_run(dir, 2);
  again.resume = true;
  expect_error([&] { training::train(again); }, {ckpt, "NaN or infinite"});
  fs::remove_all(dir);
}

TEST_CASE("temp files a killed checkpoint write left behind are removed on the next start") {
  if (!have_data()) return;
  const std::string dir = fresh_dir("stale");
  fs::create_directories(dir);
  // pid 999999999 is above Linux's pid_max: no such process can be writing it.
  const std::string stale = dir + "/checkpoint.safetensors.tmp.999999999";
  const std::string other = dir + "/other.safetensors.tmp.999999999";
  std::ofstream(stale) << "torn";
  std::ofstream(other) << "not ours";
  training::train(tiny_run(dir, 1));
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(other));
  fs::remove_all(dir);
}

TEST_CASE("--resume drops the log lines written after the checkpoint's step") {
  if (!have_data()) return;
  const std::string dir = fresh_dir("log");
  training::train(tiny_run(dir, 3));
  const std::string ckpt = dir + "/checkpoint.safetensors";
  fs::copy_file(ckpt, dir + "/step3.safetensors");
  training::TrainOptions on = tiny_run(dir, 5);
  on.resume = true;
  training::train(on);  // logs steps 4 and 5, then "dies": its checkpoint is lost
  fs::copy_file(dir + "/step3.safetensors", ckpt, fs::copy_options::overwrite_existing);
  std::ofstream(dir + "/log.jsonl", std::ios::app) << "{\"step\": 6, \"loss\"";  // a torn last line
  training::train(on);
  CHECK(logged_steps(dir) == std::vector<int64_t>{1, 2, 3, 4, 5});
  fs::remove_all(dir);
}
