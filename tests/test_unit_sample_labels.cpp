// The labels of `promoe sample --num N --labels ...`, and the sampler/objective check.
#include <doctest/doctest.h>

#include "expect_error.h"
#include "io/npy.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"
#include "training/sampling.h"

using namespace promoe;
using test::expect_error;

TEST_CASE("sample labels: balanced, uniform and from a file") {
  std::vector<int64_t> b = training::sample_labels("balanced", 23, 10, 0);
  REQUIRE(b.size() == 23);
  std::vector<int64_t> count(10, 0);
  for (int64_t y : b) ++count[y];
  CHECK(count == std::vector<int64_t>{3, 3, 3, 2, 2, 2, 2, 2, 2, 2});
  CHECK(std::is_sorted(b.begin(), b.end()));
  std::vector<int64_t> u = training::sample_labels("uniform", 500, 10, 3);
  CHECK(u == training::sample_labels("uniform", 500, 10, 3));
  CHECK(u != training::sample_labels("uniform", 500, 10, 4));
  std::vector<int64_t> seen(10, 0);
  for (int64_t y : u) {
    REQUIRE(y >= 0);
    REQUIRE(y < 10);
    ++seen[y];
  }
  for (int64_t c : seen) CHECK(c > 20);  // 50 expected per class
  test::TempDir dir("sample_labels");
  test::write_bytes(dir.file("l.txt"), "3 1\n4\t1 5\n");
  CHECK(training::sample_labels(dir.file("l.txt"), 5, 10, 0) == std::vector<int64_t>{3, 1, 4, 1, 5});
  io::write_npy(dir.file("l.npy"), raw::from_vector<int64_t>({9, 0}, {2}));
  CHECK(training::sample_labels(dir.file("l.npy"), 2, 10, 0) == std::vector<int64_t>{9, 0});
  expect_error([&] { training::sample_labels(dir.file("l.txt"), 4, 10, 0); }, {"holds 5 labels", "--num is 4"});
  expect_error([&] { training::sample_labels(dir.file("l.txt"), 5, 4, 0); }, {"label 4", "[0, 4)"});
  test::write_bytes(dir.file("bad.txt"), "1 two 3");
  expect_error([&] { training::sample_labels(dir.file("bad.txt"), 3, 10, 0); }, {"'two' is not an integer"});
  expect_error([&] { training::sample_labels("stratified", 3, 10, 0); }, {"neither balanced, uniform"});
}

TEST_CASE("sampler must fit the objective") {
  training::check_sampler_fits("euler", "rf");
  training::check_sampler_fits("ddim", "ddpm");
  training::check_sampler_fits("ddpm", "ddpm");
  expect_error([] { training::check_sampler_fits("ddim", "rf"); }, {"rectified flow", "ddim"});
  expect_error([] { training::check_sampler_fits("ddpm", "rf"); }, {"rectified flow", "ddpm"});
  expect_error([] { training::check_sampler_fits("euler", "ddpm"); }, {"DDPM", "euler"});
}
