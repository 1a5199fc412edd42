// Training loop: exact resume, checkpoint integrity and configuration checks, bad options.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "io/fashion_mnist.h"
#include "io/safetensors.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

using namespace promoe;
namespace fs = std::filesystem;

namespace {

training::TrainOptions tiny_run(const std::string& out) {
  training::TrainOptions o;
  o.preset = "ProMoE-Tiny";
  o.steps = 6;
  o.batch = 4;
  o.lr = 1e-3;
  o.limit = 64;
  o.out = out;
  o.checkpoint_every = 100;
  o.progress = false;
  o.seed = 7;
  return o;
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("promoe_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

}  // namespace

TEST_CASE("training N steps straight equals training with a stop and --resume in the middle, bit for bit") {
  if (!io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Train)) {
    MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
    return;
  }
  const std::string a = temp_dir("straight"), b = temp_dir("resumed");
  training::TrainOptions straight = tiny_run(a);
  training::train(straight);

  training::TrainOptions first = tiny_run(b);
  first.stop_after = 3;
  CHECK(training::train(first).last_step == 3);
  training::TrainOptions second = tiny_run(b);
  second.resume = true;
  training::TrainSummary s = training::train(second);
  CHECK(s.first_step == 3);
  CHECK(s.last_step == 6);

  io::SafeTensors ca = io::read_safetensors(a + "/checkpoint.safetensors");
  io::SafeTensors cb = io::read_safetensors(b + "/checkpoint.safetensors");
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (auto& [name, t] : ca.tensors) {
    std::vector<float> x = t.to_vector<float>(), y = cb.get(name).to_vector<float>();
    CHECK_MESSAGE(x == y, name);
  }
  CHECK(ca.metadata("rng_offset") == cb.metadata("rng_offset"));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("a checkpoint of another configuration or a corrupted checkpoint is refused with a clear error") {
  if (!io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Train)) {
    MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
    return;
  }
  const std::string dir = temp_dir("ckpt");
  training::TrainOptions o = tiny_run(dir);
  o.steps = 1;
  training::train(o);
  const std::string ckpt = dir + "/checkpoint.safetensors";

  training::TrainOptions other = tiny_run(dir);
  other.preset = "Dense-Tiny";
  other.steps = 2;
  other.resume = true;
  CHECK_THROWS_WITH_AS(training::train(other), doctest::Contains("was written for the model"), Error);

  // Truncate the file: the reader names the file and the problem.
  fs::resize_file(ckpt, fs::file_size(ckpt) / 2);
  training::TrainOptions again = tiny_run(dir);
  again.steps = 2;
  again.resume = true;
  CHECK_THROWS_WITH_AS(training::train(again), doctest::Contains("checkpoint.safetensors"), Error);
  fs::remove_all(dir);
}

TEST_CASE("bad training options and an unknown preset fail before any work") {
  training::TrainOptions o = tiny_run(temp_dir("bad"));
  o.steps = 0;
  CHECK_THROWS_WITH_AS(training::train(o), doctest::Contains("--steps"), Error);
  o = tiny_run(temp_dir("bad"));
  o.objective = "score";
  CHECK_THROWS_WITH_AS(training::train(o), doctest::Contains("unknown objective"), Error);
  o = tiny_run(temp_dir("bad"));
  o.preset = "ProMoE-Huge";
  CHECK_THROWS_WITH_AS(training::train(o), doctest::Contains("ProMoE-Huge"), Error);
  o = tiny_run(temp_dir("bad"));
  o.data = "/nonexistent/latents.safetensors";
  CHECK_THROWS_AS(training::train(o), Error);
}
