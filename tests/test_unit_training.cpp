// Training loop: exact resume, checkpoint integrity and configuration checks, bad options, bf16
// mixed precision against fp32.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint_compare.h"
#include "io/fashion_mnist.h"
#include "io/safetensors.h"
#include "tensor/random.h"
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

  test::check_same_checkpoints(a, b);
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

TEST_CASE("bf16 mixed-precision training tracks fp32 within bf16 noise and repeats bit for bit") {
  // Random latents of Fashion-MNIST's shape, so that the check needs no data set.
  const std::string data = temp_dir("bf16_data");
  fs::create_directories(data);
  Generator gen(5);
  io::write_safetensors(data + "/latents.safetensors", io::NamedTensors{{"latents", gen.randn({32, 1, 32, 32})},
                                                                        {"labels", gen.randint({32}, 0, 10)}});
  auto losses = [&](const std::string& precision, const std::string& name) {
    training::TrainOptions o = tiny_run(temp_dir(name));
    o.data = data + "/latents.safetensors";
    o.steps = 4;
    o.log_every = 1;
    o.precision = precision;
    training::train(o);
    std::vector<double> l;
    std::ifstream log(o.out + "/log.jsonl");
    for (std::string line; std::getline(log, line);) l.push_back(nlohmann::json::parse(line)["loss"].get<double>());
    fs::remove_all(o.out);
    return l;
  };
  const std::vector<double> fp32 = losses("fp32", "fp32"), bf16 = losses("bf16", "bf16"),
                            again = losses("bf16", "bf16_again");
  fs::remove_all(data);
  REQUIRE(fp32.size() == 4);
  CHECK(bf16 == again);
  CHECK(bf16 != fp32);
  for (size_t i = 0; i < fp32.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(bf16[i] - fp32[i]) <= 2e-2 * std::abs(fp32[i]));
  }
}

TEST_CASE("the routing analysis logs each MoE block's specialisation next to the loss and in routing.json") {
  if (!io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Train)) {
    MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
    return;
  }
  const std::string dir = temp_dir("specialisation");
  training::TrainOptions o = tiny_run(dir);
  o.steps = 4;
  o.routing_every = 2;
  o.log_every = 3;  // the routing steps are logged even off the logging grid
  training::train(o);
  std::ifstream log(dir + "/log.jsonl");
  std::vector<int64_t> steps_with_routing;
  for (std::string line; std::getline(log, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (!j.contains("specialisation")) continue;
    steps_with_routing.push_back(j.at("step").get<int64_t>());
    const nlohmann::json& blocks = j.at("specialisation");
    REQUIRE(blocks.size() == 3);  // ProMoE-Tiny: MoE in blocks 1, 3, 5
    for (const nlohmann::json& b : blocks) {
      CHECK(b.at("block").get<int64_t>() % 2 == 1);
      const double mi = b.at("normalised_mi").get<double>();
      CHECK((mi >= 0.0 && mi <= 1.0));
      // Conditional routing: every null-label token goes to the unconditional expert.
      CHECK(b.at("null_to_uncond").get<double>() == 1.0);
    }
  }
  CHECK(steps_with_routing == std::vector<int64_t>{2, 4});
  std::ifstream report(dir + "/routing/routing.json");
  const nlohmann::json r = nlohmann::json::parse(report);
  CHECK(r.at("5").at("specialisation").at("null_to_uncond").get<double>() == 1.0);
  fs::remove_all(dir);
}
