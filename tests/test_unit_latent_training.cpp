// Training from streamed latent sets: a sharded set of posterior moments with flips resumes bit
// for bit across epochs, a .latent.npz tree trains, and a set that does not fit the model is named.
#include <doctest/doctest.h>

#include <filesystem>

#include "checkpoint_compare.h"
#include "expect_error.h"
#include "io/latent_shards.h"
#include "io/npz.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "test_unit_io_util.h"
#include "training/trainer.h"

using namespace promoe;
using promoe::test::expect_error;
using promoe::test::TempDir;
namespace fs = std::filesystem;

namespace {

// ProMoE-Tiny takes (1, 32, 32) inputs and 10 classes: moments are (2, 32, 32).
io::LatentSetInfo tiny_moments() {
  io::LatentSetInfo info;
  info.channels = 2;
  info.height = info.width = 32;
  info.moments = true;
  info.flips = true;
  info.num_classes = 10;
  return info;
}

// n entries: means ~ N(0, 1), log-variances ~ -4 + N(0, 1), labels i % 10.
void write_moments_set(const std::string& dir, int64_t n, int64_t shard) {
  io::LatentShardWriter w(dir, tiny_moments(), shard);
  Generator gen(3);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> a = gen.randn({2048}).to_vector<float>(), b = gen.randn({2048}).to_vector<float>();
    for (size_t k = 1024; k < 2048; ++k) {
      a[k] -= 4;
      b[k] -= 4;
    }
    w.add(a.data(), b.data(), i % 10);
  }
  w.finish();
}

training::TrainOptions run_on(const std::string& data, const std::string& out) {
  training::TrainOptions o;
  o.preset = "ProMoE-Tiny";
  o.data = data;
  o.steps = 6;
  o.batch = 4;
  o.lr = 1e-3;
  o.out = out;
  o.checkpoint_every = 100;
  o.progress = false;
  o.seed = 7;
  return o;
}

}  // namespace

TEST_CASE("streamed training: a sharded set resumes bit for bit, across epoch boundaries") {
  TempDir t("stream_resume");
  const std::string set = t.file("set");
  write_moments_set(set, 10, 4);  // 6 steps of 4 = 2.4 epochs of 10
  training::TrainOptions straight = run_on(set, t.file("straight"));
  training::train(straight);
  CHECK(fs::exists(t.file("straight") + "/routing/routing.json"));

  training::TrainOptions first = run_on(set, t.file("resumed"));
  first.stop_after = 2;  // stop inside the first epoch
  CHECK(training::train(first).last_step == 2);
  training::TrainOptions second = run_on(set, t.file("resumed"));
  second.resume = true;
  CHECK(training::train(second).last_step == 6);
  test::check_same_checkpoints(t.file("straight"), t.file("resumed"));
}

TEST_CASE("streamed training: the official .latent.npz tree trains, and --limit uses its first entries") {
  TempDir t("stream_tree");
  const std::string root = t.file("cache");
  Generator gen(5);
  for (int i = 0; i < 6; ++i) {
    const std::string dir = root + "/n0" + std::to_string(i % 3);
    fs::create_directories(dir);
    io::write_npz(dir + "/img" + std::to_string(i) + ".latent.npz",
                  {{"latent", gen.randn({2, 32, 32})}, {"latent_flip", gen.randn({2, 32, 32})}}, true);
  }
  training::TrainOptions o = run_on(root, t.file("run"));
  o.steps = 2;
  o.limit = 4;
  CHECK(training::train(o).last_step == 2);
}

TEST_CASE("streamed training: a set of another shape or more classes than the model is refused") {
  TempDir t("stream_mismatch");
  io::LatentSetInfo info = tiny_moments();
  info.channels = 4;  // 2 latent channels; the model takes 1
  {
    io::LatentShardWriter w(t.file("wide"), info, 8);
    std::vector<float> e(size_t(info.entry_floats()));
    w.add(e.data(), e.data(), 0);
    w.finish();
  }
  expect_error([&] { training::train(run_on(t.file("wide"), t.file("a"))); },
               {"samples of shape [2, 32, 32] but the model expects (1, 32, 32)"});
  info = tiny_moments();
  info.num_classes = 1000;
  {
    io::LatentShardWriter w(t.file("classes"), info, 8);
    std::vector<float> e(size_t(info.entry_floats()));
    w.add(e.data(), e.data(), 999);
    w.finish();
  }
  expect_error([&] { training::train(run_on(t.file("classes"), t.file("b"))); },
               {"has 1000 classes but the model has 10"});
}
