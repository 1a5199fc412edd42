// Model variants through --config / --set (training/config_edits.h): edits reach the model and the
// checkpoint, and every bad edit is refused with an error naming the key.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "io/fashion_mnist.h"
#include "training/checkpoint.h"
#include "training/config_edits.h"
#include "training/trainer.h"

using namespace promoe;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("promoe_test_edits_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("--set edits the named fields of the preset and leaves the others") {
  const training::ModelSpec base = training::ModelSpec::preset("ProMoE-Tiny");
  const training::ModelSpec s = training::edited_spec(
      "ProMoE-Tiny",
      {"", {"moe.rcl_lambda=0", "moe.use_uncond_expert=false", "moe.router_weight_mode=softmax", "depth=4"}});
  REQUIRE(s.moe.has_value());
  CHECK(s.moe->rcl_lambda == 0.0);
  CHECK_FALSE(s.moe->use_uncond_expert);
  CHECK(s.moe->router_weight_mode == moe::RouterWeightMode::Softmax);
  CHECK(s.dit.depth == 4);
  CHECK(s.dit.hidden_size == base.dit.hidden_size);
  CHECK(s.moe->num_experts == base.moe->num_experts);
  // The last setting of a key wins; no edits give the preset itself.
  CHECK(training::edited_spec("ProMoE-Tiny", {"", {"moe.top_k=2", "moe.top_k=1"}}).moe->top_k == 1);
  CHECK(training::edited_spec("ProMoE-Tiny", {}).to_json() == base.to_json());
}

TEST_CASE("moe=null makes a model dense, and a moe key on a dense preset starts from that type's defaults") {
  CHECK_FALSE(training::edited_spec("ProMoE-Tiny", {"", {"moe=null"}}).moe.has_value());
  const training::ModelSpec tc = training::edited_spec("Dense-Tiny", {"", {"moe.type=tc", "moe.num_experts=4"}});
  REQUIRE(tc.moe.has_value());
  CHECK(tc.moe->type == moe::MoeType::TC);
  CHECK(tc.moe->num_experts == 4);
  CHECK(tc.moe->rcl_lambda == 0.0);  // baselines have no prototypes
}

TEST_CASE("--config merges a JSON file first, then --set applies on top") {
  const std::string file = write_file("merge.json", R"({"depth": 4, "moe": {"num_experts": 4, "top_k": 2}})");
  const training::ModelSpec s = training::edited_spec("ProMoE-Tiny", {file, {"moe.top_k=1"}});
  CHECK(s.dit.depth == 4);
  CHECK(s.moe->num_experts == 4);
  CHECK(s.moe->top_k == 1);
  fs::remove(file);
}

TEST_CASE("a bad edit names the key and what was wrong") {
  auto edits = [](std::vector<std::string> sets) { return training::ConfigEdits{"", std::move(sets)}; };
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"moe.rcl_lamda=0"})); },
                     {"--set moe.rcl_lamda", "unknown key 'moe.rcl_lamda'", "moe.rcl_lambda"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"dpth=4"})); }, {"unknown key 'dpth'", "depth"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"moe.top_k=1.5"})); },
                     {"moe.top_k must be an integer", "1.5"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"moe.use_uncond_expert=1"})); },
                     {"must be true or false"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"depth=deep"})); },
                     {"depth must be an integer"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"moe.top_k"})); }, {"expected key=value"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"depth.x=1"})); }, {"'depth' has no fields"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"moe.type=mixture"})); },
                     {"unknown type 'mixture'"});
  // A value of the right type that the model refuses: the model's own check, naming the field.
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"moe.top_k=20"})); },
                     {"edited configuration of ProMoE-Tiny", "top_k = 20 exceeds num_experts = 8"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", edits({"depth=100000"})); }, {"depth"});
  const std::string bad = write_file("bad.json", R"({"moe": {"experts": 4}})");
  test::expect_error(
      [&] {
        training::edited_spec("ProMoE-Tiny", {bad, {}});
      },
      {"--config", "unknown key 'moe.experts'"});
  const std::string broken = write_file("broken.json", "{\"depth\": ");
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", {broken, {}}); }, {"not valid JSON"});
  test::expect_error([&] { training::edited_spec("ProMoE-Tiny", {"/nonexistent/x.json", {}}); }, {"cannot read"});
  fs::remove(bad);
  fs::remove(broken);
}

TEST_CASE("training with edits stores the edited configuration; resuming with other edits is refused") {
  if (!io::fashion_mnist_available(io::kFashionMnistDir, io::Split::Train)) {
    MESSAGE("SKIPPED: Debian's dataset-fashion-mnist is not installed");
    return;
  }
  const std::string dir = temp_path("train");
  training::TrainOptions o;
  o.preset = "ProMoE-Tiny";
  o.model_edits = {"", {"moe.rcl_lambda=0", "moe.num_experts=4"}};
  o.steps = 2;
  o.batch = 4;
  o.limit = 32;
  o.out = dir;
  o.progress = false;
  training::train(o);
  const training::CheckpointState st = training::read_checkpoint_state(dir + "/checkpoint.safetensors");
  const training::ModelSpec stored = training::ModelSpec::from_json(st.model_config);
  CHECK(stored.moe->num_experts == 4);
  CHECK(stored.moe->rcl_lambda == 0.0);
  CHECK(nlohmann::json::parse(st.train_config).at("model_edits").at("set").size() == 2);
  training::TrainOptions other = o;
  other.model_edits = {};
  other.steps = 3;
  other.resume = true;
  test::expect_error([&] { training::train(other); }, {"was written for the model"});
  fs::remove_all(dir);
}
