// Streamed latent sets: the sharded format (write, read, validation), the official .latent.npz
// tree, packing, and training batches drawn from them.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "io/latent_pack.h"
#include "io/latent_shards.h"
#include "io/latent_tree.h"
#include "io/latents.h"
#include "io/npz.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"
#include "training/data_order.h"
#include "training/latent_batches.h"

using namespace promoe;
using promoe::test::expect_error;
using promoe::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Entry i's value k, and its flipped copy's: distinct everywhere, so any mix-up shows.
float value(int64_t i, int64_t k, int variant) { return float(i * 1000 + k) + (variant ? 0.5f : 0.0f); }

io::LatentSetInfo moments_info(int64_t classes = 3) {
  io::LatentSetInfo info;
  info.channels = 4;  // 2 latent channels: means, then log-variances
  info.height = 2;
  info.width = 3;
  info.moments = true;
  info.flips = true;
  info.num_classes = classes;
  return info;
}

// A sharded set of n entries (label i % 3) in shards of `shard` entries.
io::LatentIndex write_set(const std::string& dir, int64_t n, int64_t shard, io::LatentSetInfo info = moments_info()) {
  io::LatentShardWriter w(dir, info, shard);
  std::vector<float> a(size_t(info.entry_floats())), b(a.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < info.entry_floats(); ++k) {
      a[size_t(k)] = value(i, k, 0);
      b[size_t(k)] = value(i, k, 1);
    }
    w.add(a.data(), info.flips ? b.data() : nullptr, i % 3);
  }
  return w.finish();
}

void write_tree_entry(const std::string& path, int64_t i, const Shape& shape) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<float> a, b;
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  for (int64_t k = 0; k < numel; ++k) {
    a.push_back(value(i, k, 0));
    b.push_back(value(i, k, 1));
  }
  io::write_npz(
      path, {{"latent", raw::from_vector<float>(a, shape)}, {"latent_flip", raw::from_vector<float>(b, shape)}}, true);
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(test::read_bytes(path)); }
void write_json(const std::string& path, const nlohmann::json& j) { test::write_bytes(path, j.dump()); }

}  // namespace

TEST_CASE("latent shards: what the writer writes reads back entry by entry, across shards") {
  TempDir t("shards_roundtrip");
  const std::string dir = t.file("set");
  const io::LatentIndex written = write_set(dir, 10, 4);
  CHECK(written.shards.size() == 3);
  CHECK(written.shards[2].entries == 2);
  io::ShardedLatentSet set(dir);
  const io::LatentSetInfo& info = set.info();
  CHECK(info.size == 10);
  CHECK(info.channels == 4);
  CHECK(info.moments);
  CHECK(info.flips);
  CHECK(info.num_classes == 3);
  CHECK(info.scaling_factor == doctest::Approx(io::kSdVaeScalingFactor));
  CHECK(info.describe().find("10 entries of posterior moments [4, 2, 3] (samples [2, 2, 3]), with flips") !=
        std::string::npos);
  std::vector<float> out(size_t(info.entry_floats()));
  for (int64_t i = 0; i < 10; ++i) {
    CHECK(set.label(i) == i % 3);
    for (int v = 0; v < 2; ++v) {
      set.read(i, v, out.data());
      for (int64_t k = 0; k < info.entry_floats(); ++k) CHECK(out[size_t(k)] == value(i, k, v));
    }
  }
  CHECK(io::is_streamed_latent_set(dir));
  CHECK(io::open_latent_source(dir)->info().size == 10);
  expect_error([&] { set.read(10, 0, out.data()); }, {"entry 10 is outside [0, 10)"});
}

TEST_CASE("latent shards: a bad index.json gives one clear error naming the field") {
  TempDir t("shards_bad_index");
  const std::string dir = t.file("set");
  write_set(dir, 6, 4);
  const std::string index = dir + "/index.json";
  const nlohmann::json good = read_json(index);
  auto with = [&](const std::function<void(nlohmann::json&)>& edit, std::vector<std::string> pieces) {
    nlohmann::json j = good;
    edit(j);
    write_json(index, j);
    expect_error([&] { io::ShardedLatentSet s(dir); }, pieces);
  };
  with([](auto& j) { j["version"] = 2; }, {"format version 2 is not supported"});
  with([](auto& j) { j["format"] = "other"; }, {"field \"format\""});
  with([](auto& j) { j["size"] = 7; }, {"\"size\" = 7 but the shards hold 6 entries"});
  with([](auto& j) { j["shape"] = {4, 0, 3}; }, {"field \"shape\"", "outside [1,"});
  with([](auto& j) { j["shape"] = {3, 2, 3}; }, {"moments need an even channel count"});
  with([](auto& j) { j["dtype"] = "F16"; }, {"field \"dtype\""});
  with([](auto& j) { j["num_classes"] = 2; }, {"label 2 of entry 2 is outside [0, 2)"});
  with([](auto& j) { j["num_classes"] = 0; }, {"field \"num_classes\" = 0 is outside"});
  with([](auto& j) { j["shards"][0]["file"] = "../x.safetensors"; }, {"not a plain file name"});
  with(
      [](auto& j) {
        j["shards"][0]["entries"] = 5;
        j["size"] = 7;
      },
      {"tensor latents has shape [4,4,2,3]", "the index expects [5, 4, 2, 3]"});
  with([](auto& j) { j["shards"][0]["entries"] = uint64_t(1) << 63; }, {"field \"entries\""});
  with([](auto& j) { j["shape"] = {1 << 20, 1 << 20, 1 << 20}; }, {"2^62"});
  with([](auto& j) { j.erase("flips"); }, {"missing field \"flips\""});
  // Plain latents without flips: the shards' latents_flip is not read, and the set is valid.
  nlohmann::json plain = good;
  plain["flips"] = false;
  plain["moments"] = false;
  write_json(index, plain);
  io::ShardedLatentSet s(dir);
  CHECK(!s.info().moments);
  CHECK(s.info().scaling_factor == 1.0);
}

TEST_CASE("latent shards: a shard that disagrees with its index or its file size is refused") {
  TempDir t("shards_bad_shard");
  const std::string dir = t.file("set");
  write_set(dir, 6, 4);
  const std::string shard = dir + "/shard-00000.safetensors";
  const std::string bytes = test::read_bytes(shard);
  test::write_bytes(shard, bytes.substr(0, bytes.size() - 8));
  expect_error([&] { io::ShardedLatentSet s(dir); }, {"shard-00000.safetensors", "lie outside the file"});
  test::write_bytes(shard, bytes.substr(0, 6));
  expect_error([&] { io::ShardedLatentSet s(dir); }, {"shorter than a safetensors header"});
  std::string lying = bytes;
  lying[0] = char(0xff);
  lying[5] = char(0x7f);
  test::write_bytes(shard, lying);
  expect_error([&] { io::ShardedLatentSet s(dir); }, {"header claims"});
  fs::remove(shard);
  expect_error([&] { io::ShardedLatentSet s(dir); }, {"cannot open", "shard-00000.safetensors"});
  // Labels out of range in a shard that claims the right shapes.
  write_set(t.file("labels"), 2, 4);
  io::write_safetensors(t.file("labels") + "/shard-00000.safetensors",
                        io::NamedTensors{{"latents", raw::zeros({2, 4, 2, 3})},
                                         {"latents_flip", raw::zeros({2, 4, 2, 3})},
                                         {"labels", raw::from_vector<int64_t>({0, -1}, {2})}});
  expect_error([&] { io::ShardedLatentSet s(t.file("labels")); }, {"label -1 of entry 1 is outside [0, 3)"});
}

TEST_CASE("latent shards: the writer refuses a folder that holds a set, and bad entries") {
  TempDir t("shards_writer");
  write_set(t.file("set"), 3, 2);
  expect_error([&] { io::LatentShardWriter w(t.file("set"), moments_info(), 2); }, {"already holds a latent set"});
  io::LatentShardWriter w(t.file("other"), moments_info(), 2);
  std::vector<float> e(24);
  expect_error([&] { w.add(e.data(), nullptr, 0); }, {"a flipped copy is required"});
  expect_error([&] { w.add(e.data(), e.data(), 3); }, {"label 3 is outside [0, 3)"});
  expect_error([&] { w.finish(); }, {"no entries"});
  CHECK(!fs::exists(t.file("other") + "/index.json"));
}

TEST_CASE("latent npz tree: classes are the sorted folder names, or classes.txt; both variants read") {
  TempDir t("npz_tree");
  const std::string root = t.file("cache");
  const Shape shape{4, 2, 3};
  write_tree_entry(root + "/n02/b.latent.npz", 0, shape);
  write_tree_entry(root + "/n02/a.latent.npz", 1, shape);
  write_tree_entry(root + "/n01/z.latent.npz", 2, shape);
  fs::create_directories(root + "/empty");
  test::write_bytes(root + "/n01/notes.txt", "not a latent");
  CHECK(io::is_streamed_latent_set(root));
  io::LatentNpzTree tree(root);
  CHECK(tree.class_names() == std::vector<std::string>{"n01", "n02"});
  const io::LatentSetInfo& info = tree.info();
  CHECK(info.size == 3);
  CHECK(info.moments);
  CHECK(info.flips);
  CHECK(info.num_classes == 2);
  CHECK(info.channels == 4);
  // Entry order: class folders sorted, files sorted within: n01/z, n02/a, n02/b.
  CHECK(tree.entry_path(1) == root + "/n02/a.latent.npz");
  CHECK(tree.label(0) == 0);
  CHECK(tree.label(2) == 1);
  std::vector<float> out(24);
  tree.read(1, 1, out.data());
  for (int64_t k = 0; k < 24; ++k) CHECK(out[size_t(k)] == value(1, k, 1));
  tree.read(0, 0, out.data());
  CHECK(out[3] == value(2, 3, 0));

  test::write_bytes(root + "/classes.txt", "n00\nn02\nn01\n");
  io::LatentNpzTree listed(root);
  CHECK(listed.info().num_classes == 3);
  CHECK(listed.label(0) == 2);  // n01 is line 2
  CHECK(listed.label(1) == 1);
  test::write_bytes(root + "/classes.txt", "n02\n");
  expect_error([&] { io::LatentNpzTree bad(root); }, {"folder 'n01' is not a class of"});
  fs::remove(root + "/classes.txt");

  write_tree_entry(root + "/n02/c.latent.npz", 3, {4, 2, 2});
  io::LatentNpzTree mixed(root);
  expect_error([&] { mixed.read(3, 0, out.data()); }, {"c.latent.npz", "but the tree's first entry is [4, 2, 3]"});
  expect_error([&] { io::LatentNpzTree none(t.file("missing")); }, {"not a directory"});
  fs::create_directories(t.file("bare/x"));
  expect_error([&] { io::LatentNpzTree none(t.file("bare")); },
               {"holds no index.json", "no class folder of .latent.npz files"});
}

TEST_CASE("latents pack: a tree and an in-memory set become sharded sets with the same entries") {
  TempDir t("pack");
  const std::string root = t.file("cache");
  for (int64_t i = 0; i < 5; ++i)
    write_tree_entry(root + "/c" + std::to_string(i % 2) + "/" + std::to_string(i) + ".latent.npz", i, {4, 2, 3});
  io::LatentNpzTree tree(root);
  const io::LatentIndex index = io::pack_latents(root, t.file("packed"), {2, 0});
  CHECK(index.shards.size() == 3);
  io::ShardedLatentSet set(t.file("packed"));
  CHECK(set.info().size == 5);
  CHECK(set.info().moments);
  CHECK(set.info().flips);
  CHECK(test::read_bytes(t.file("packed") + "/classes.txt") == "c0\nc1\n");
  std::vector<float> a(24), b(24);
  for (int64_t i = 0; i < 5; ++i) {
    CHECK(set.label(i) == tree.label(i));
    for (int v = 0; v < 2; ++v) {
      set.read(i, v, a.data());
      tree.read(i, v, b.data());
      CHECK(a == b);
    }
  }
  // From safetensors: plain latents, no flips, classes from the largest label.
  Tensor x = raw::from_vector<float>(std::vector<float>(3 * 1 * 2 * 2, 0.25f), {3, 1, 2, 2});
  io::write_safetensors(t.file("l.safetensors"),
                        io::NamedTensors{{"latents", x}, {"labels", raw::from_vector<int64_t>({0, 4, 1}, {3})}});
  io::pack_latents(t.file("l.safetensors"), t.file("plain"), {2, 0});
  io::ShardedLatentSet plain(t.file("plain"));
  CHECK(!plain.info().moments);
  CHECK(!plain.info().flips);
  CHECK(plain.info().num_classes == 5);
  CHECK(plain.label(1) == 4);
  expect_error(
      [&] {
        io::pack_latents(t.file("l.safetensors"), t.file("few"), {2, 3});
      },
      {"label 4, outside --num-classes 3"});
}

TEST_CASE("latent batches: posterior samples are mean + exp(logvar/2) * eps, clamped, times the scale") {
  io::LatentSetInfo info = moments_info();
  info.channels = 2;
  info.height = info.width = 1;  // one mean, one log-variance per sample
  float out;
  const float noise = 1.5f;
  for (float logvar : {-40.0f, -1.0f, 0.0f, 3.0f, 50.0f}) {
    const float entry[2] = {0.25f, logvar};
    training::sample_from_entry(info, entry, &noise, 0.18215, &out);
    const double lv = std::clamp(double(logvar), -30.0, 20.0);
    CHECK(out == doctest::Approx((0.25 + std::exp(lv / 2) * 1.5) * 0.18215).epsilon(1e-6));
  }
  info.moments = false;
  const float plain[1] = {2.0f};
  training::sample_from_entry(info, plain, nullptr, 1.0, &out);
  CHECK(out == 2.0f);
}

TEST_CASE("latent batches: keyed by (seed, step, position); a slice equals the whole batch's part") {
  TempDir t("batches");
  write_set(t.file("set"), 10, 4);
  io::ShardedLatentSet set(t.file("set"));
  const training::LatentBatch a = training::latent_batch(set, 5, 10, 3, 4);
  const training::LatentBatch b = training::latent_batch(set, 5, 10, 3, 4);
  CHECK(a.x0.to_vector<float>() == b.x0.to_vector<float>());
  CHECK(a.x0.shape() == Shape{4, 2, 2, 3});
  const training::LatentBatch c = training::latent_batch(set, 5, 10, 4, 4);
  CHECK(a.x0.to_vector<float>() != c.x0.to_vector<float>());
  const training::LatentBatch slice = training::latent_batch(set, 5, 10, 3, 4, 0, 2, 2);
  const std::vector<float> whole = a.x0.to_vector<float>(), part = slice.x0.to_vector<float>();
  CHECK(std::vector<float>(whole.begin() + 24, whole.end()) == part);
  // The labels are those of the entries the order names.
  const std::vector<int64_t> idx = training::global_batch_indices(5, 10, 3, 4);
  const std::vector<int64_t> y = a.labels.to_vector<int64_t>();
  for (size_t j = 0; j < 4; ++j) CHECK(y[j] == idx[j] % 3);
  // The sample is the entry's mean plus noise scaled by exp(logvar/2), with logvar ~ 1000 * i
  // clamped to 20: far from the mean. Check against a manual draw for position 0.
  std::vector<float> entry(24), noise(12), want(12);
  const uint64_t g = training::global_position(3, 4, 0);
  set.read(idx[0], int(training::sample_choice(5, g, 2)), entry.data());
  training::sample_normals(5, g, noise.data(), 12);
  training::sample_from_entry(set.info(), entry.data(), noise.data(), io::kSdVaeScalingFactor, want.data());
  CHECK(std::vector<float>(whole.begin(), whole.begin() + 12) == want);
  // Both variants are drawn over many positions.
  int flipped = 0;
  for (uint64_t j = 0; j < 200; ++j) flipped += int(training::sample_choice(5, j, 2));
  CHECK(flipped > 60);
  CHECK(flipped < 140);
}

TEST_CASE("latent batches: routing examples are the first entries of each class, at their mean") {
  TempDir t("routing_examples");
  write_set(t.file("set"), 10, 4);
  io::ShardedLatentSet set(t.file("set"));
  const training::LatentBatch r = training::latent_routing_examples(set, 10, 3, 2);
  CHECK(r.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 0, 1, 2});
  const std::vector<float> x = r.x0.to_vector<float>();
  CHECK(x[0] == doctest::Approx(value(0, 0, 0) * io::kSdVaeScalingFactor));
  CHECK(x[12 * 4] == doctest::Approx(value(4, 0, 0) * io::kSdVaeScalingFactor));
}
