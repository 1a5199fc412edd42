// The feature network's file and training, and the image sets `promoe eval` reads.
#include <doctest/doctest.h>

#include "eval/evaluate.h"
#include "eval/train_features.h"
#include "expect_error.h"
#include "io/npz.h"
#include "io/pixel_bytes.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "test_unit_io_util.h"

using namespace promoe;
using test::expect_error;

namespace {

// n random 8x8 grey images in [-1, 1] whose class (of 3) sets their mean brightness.
eval::ImageSet toy_set(int64_t n, uint64_t seed) {
  Generator gen(seed);
  Tensor labels = gen.randint({n}, 0, 3);
  Tensor noise = gen.uniform({n, 1, 8, 8}, -0.3, 0.3);
  std::vector<float> x = noise.to_vector<float>();
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < 64; ++p) x[i * 64 + p] += -0.6f + 0.6f * float(y[i]);
  return {raw::from_vector<float>(x, {n, 1, 8, 8}), labels, "toy"};
}

eval::FeatureNetConfig toy_config() {
  eval::FeatureNetConfig c;
  c.image_size = 8;
  c.num_classes = 3;
  c.width1 = 4;
  c.width2 = 6;
  c.width3 = 5;
  c.feature_dim = 7;
  return c;
}

}  // namespace

TEST_CASE("feature net: training is deterministic, learns a toy task, and its file round-trips") {
  test::TempDir dir("feature_net");
  const eval::ImageSet train = toy_set(96, 1), test = toy_set(48, 2);
  eval::FeatureTrainOptions o;
  o.epochs = 8;
  o.batch = 16;
  o.lr = 1e-2;
  o.flip = true;
  o.progress = false;
  eval::FeatureNet a(toy_config(), 3), b(toy_config(), 3);
  const eval::FeatureTrainResult ra = eval::train_feature_net(a, train, test, o);
  eval::train_feature_net(b, train, test, o);
  for (size_t i = 0; i < a.state_dict().size(); ++i)
    CHECK(a.state_dict()[i].second.to_vector<float>() == b.state_dict()[i].second.to_vector<float>());
  CHECK(ra.epoch_test_accuracy.back() > 0.9);
  eval::save_feature_net(dir.file("f.safetensors"), a, {{"note", "toy"}});
  auto loaded = eval::load_feature_net(dir.file("f.safetensors"));
  CHECK(loaded->config.to_json() == a.config.to_json());
  CHECK(eval::embed(*loaded, test.images).features.to_vector<float>() ==
        eval::embed(a, test.images).features.to_vector<float>());
  expect_error([&] { eval::load_feature_net(dir.file("missing.safetensors")); }, {"missing.safetensors"});
}

TEST_CASE("image sets: .npz samples are padded and scaled as training sees them; bad ones are refused") {
  test::TempDir dir("image_sets");
  std::vector<int64_t> px(2 * 28 * 28);
  for (size_t i = 0; i < px.size(); ++i) px[i] = int64_t(i % 251);
  Tensor images = raw::from_vector<int64_t>(px, {2, 28, 28, 1});
  io::write_npz(dir.file("s.npz"), {{"arr_0", images, true}, {"arr_1", raw::from_vector<int64_t>({4, 9}, {2})}});
  const eval::ImageSet s = eval::load_image_file(dir.file("s.npz"), {1, 32}, 10);
  REQUIRE(s.images.shape() == Shape{2, 1, 32, 32});
  std::vector<float> x = s.images.to_vector<float>();
  CHECK(x[0] == -1.0f);                                      // the black border
  CHECK(x[2 * 32 + 2] == doctest::Approx(0.0 / 127.5 - 1));  // byte (0, 0)
  CHECK(x[1024 + 5 * 32 + 9] == doctest::Approx(double((784 + 3 * 28 + 7) % 251) / 127.5 - 1));
  CHECK(s.labels.to_vector<int64_t>() == std::vector<int64_t>{4, 9});
  expect_error([&] { eval::check_labels(s, 9); }, {"label 9", "[0, 9)"});
  // Without labels the set loads unlabelled.
  io::write_npz(dir.file("u.npz"), {{"arr_0", images, true}});
  CHECK(!eval::load_image_file(dir.file("u.npz"), {1, 32}, 10).labelled());
  // Pixels outside a byte, a float array, a wrong rank, a label per image missing, too big images.
  io::write_npz(dir.file("big.npz"), {{"arr_0", raw::from_vector<int64_t>({0, 300}, {2, 1, 1, 1})}});
  expect_error([&] { eval::load_image_file(dir.file("big.npz"), {1, 32}, 10); }, {"300", "not a byte"});
  io::write_npz(dir.file("f.npz"), {{"arr_0", raw::zeros({2, 4, 4, 1})}});
  expect_error([&] { eval::load_image_file(dir.file("f.npz"), {1, 32}, 10); }, {"uint8"});
  io::write_npz(dir.file("rank.npz"), {{"arr_0", raw::zeros({4, 4}, DType::I64), true}});
  expect_error([&] { eval::load_image_file(dir.file("rank.npz"), {1, 32}, 10); }, {"arr_0 must be"});
  io::write_npz(dir.file("lab.npz"), {{"arr_0", images, true}, {"arr_1", raw::from_vector<int64_t>({1}, {1})}});
  expect_error([&] { eval::load_image_file(dir.file("lab.npz"), {1, 32}, 10); }, {"one label per image"});
  io::write_npz(dir.file("huge.npz"), {{"arr_0", raw::zeros({1, 40, 40, 1}, DType::I64), true}});
  expect_error([&] { eval::load_image_file(dir.file("huge.npz"), {1, 32}, 10); }, {"40x40"});
  expect_error([&] { eval::load_image_file(dir.file("s.txt"), {1, 32}, 10); }, {"no such file"});
}

TEST_CASE("image sets: float .safetensors samples are quantised to the bytes their .npz would hold") {
  test::TempDir dir("float_sets");
  // Values a hair off a byte step, where exact arithmetic and the writers' f32 arithmetic part.
  const std::vector<float> v = {-1.0f / 127.5f, -1e-10f, 1.0f / 127.5f, 0.5f, -1.0f, 1.0f, 1.0005f, -1.0005f};
  const std::vector<int64_t> bytes = {127, 128, 129, 191, 0, 255, 255, 0};
  const Tensor images = raw::from_vector<float>(v, {2, 1, 2, 2});
  io::write_safetensors(dir.file("s.safetensors"), io::NamedTensors{{"samples", images}});
  const eval::ImageSet s = eval::load_image_file(dir.file("s.safetensors"), {1, 2}, 10);
  std::vector<float> want;
  for (int64_t b : bytes) want.push_back(float(b) / 127.5f - 1.0f);
  CHECK(s.images.to_vector<float>() == want);
  const std::vector<uint8_t> px = io::nhwc_pixel_bytes(images);
  io::write_npz(dir.file("s.npz"),
                {{"arr_0", raw::from_vector<int64_t>(std::vector<int64_t>(px.begin(), px.end()), {2, 2, 2, 1}), true}});
  CHECK(eval::load_image_file(dir.file("s.npz"), {1, 2}, 10).images.to_vector<float>() == want);
}

TEST_CASE("image sets: a PNG grid written by promoe reads back as its tiles, labelled by row") {
  test::TempDir dir("png_grid");
  Generator gen(4);
  Tensor images = gen.uniform({6, 1, 32, 32}, -1, 1);  // 3 classes x 2 per class
  io::write_image_grid_png(dir.file("g.png"), images, 2);
  const eval::ImageSet s = eval::load_image_file(dir.file("g.png"), {1, 32}, 3);
  REQUIRE(s.images.shape() == Shape{6, 1, 32, 32});
  CHECK(s.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  std::vector<float> a = images.to_vector<float>(), b = s.images.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 1.5 / 127.5);  // 8-bit quantisation
  CHECK(!eval::load_image_file(dir.file("g.png"), {1, 32}, 10).labelled());           // 3 rows, not 10 classes
  expect_error([&] { eval::load_image_file(dir.file("g.png"), {1, 28}, 3); }, {"not a grid of 28x28"});
}

TEST_CASE("evaluate: a set scored against itself sits at the floor's level; bad sets are refused") {
  const eval::ImageSet train = toy_set(64, 5), test = toy_set(40, 6);
  eval::FeatureNet net(toy_config(), 1);
  net.train(false);
  eval::EvalOptions o;
  o.kid_subsets = 5;
  eval::EvalReport r = eval::evaluate(net, subset(test, eval::sample_indices(40, 20, 1)), train, test, o);
  CHECK(r.n == 20);
  CHECK(r.samples.accuracy.has_value());
  CHECK(r.samples.per_class.size() == 3);
  int64_t predicted = 0;
  for (int64_t c : r.samples.predicted_histogram) predicted += c;
  CHECK(predicted == 20);
  nlohmann::json j = r.to_json();
  for (const char* key : {"n", "fd", "fd_floor", "kid", "kid_std", "precision", "recall", "accuracy",
                          "per_class_accuracy", "accuracy_floor"})
    CHECK_MESSAGE(j.contains(key), key);
  CHECK(j["per_class_accuracy"].size() == 3);
  eval::ImageSet unlabelled = toy_set(10, 7);
  unlabelled.labels = Tensor();
  nlohmann::json u = eval::evaluate(net, unlabelled, train, test, o).to_json();
  CHECK(u["accuracy"].is_null());
  CHECK(u["per_class_accuracy"][0].is_null());
  CHECK(std::isfinite(u["fd"].get<double>()));
  expect_error([&] { eval::evaluate(net, toy_set(1, 8), train, test, o); }, {"at least 2"});
  eval::ImageSet nan = toy_set(4, 9);
  nan.images.data<float>()[3] = std::nanf("");
  expect_error([&] { eval::evaluate(net, nan, train, test, o); }, {"not in [-1, 1]"});
  eval::ImageSet wrong = toy_set(4, 9);
  wrong.labels.data<int64_t>()[2] = 3;
  expect_error([&] { eval::evaluate(net, wrong, train, test, o); }, {"label 3"});
}

TEST_CASE("an Evaluator scoring many sets gives what one-off evaluations give, the floor cached per size") {
  const eval::ImageSet train = toy_set(64, 5), test = toy_set(40, 6);
  eval::FeatureNet net(toy_config(), 1);
  net.train(false);
  eval::EvalOptions o;
  o.kid_subsets = 5;
  eval::Evaluator evaluator(net, train, test, o);
  const eval::ImageSet a = toy_set(20, 11), b = toy_set(20, 12), c = toy_set(12, 13);
  for (const eval::ImageSet* s : {&a, &b, &c, &a}) {
    nlohmann::json many = evaluator.evaluate(*s).to_json(), once = eval::evaluate(net, *s, train, test, o).to_json();
    many.erase("seconds");
    once.erase("seconds");
    CHECK(many == once);
  }
  CHECK(evaluator.evaluate(a).samples.fd != evaluator.evaluate(b).samples.fd);
  expect_error([&] { evaluator.evaluate(toy_set(65, 14)); }, {"only 64 training images"});
}
