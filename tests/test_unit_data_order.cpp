// Epoch permutations, global batch positions and keyed per-sample draws (training/data_order.h).
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <vector>

#include "training/data_order.h"

using namespace promoe::training;

TEST_CASE("data order: an epoch's permutation is a bijection of [0, n) for any n") {
  for (uint64_t n : {1, 2, 3, 4, 5, 7, 64, 100, 1000, 4097}) {
    EpochPermutation p(7, 3, n);
    std::vector<int> hits(n, 0);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t j = p(i);
      REQUIRE(j < n);
      ++hits[j];
    }
    for (uint64_t i = 0; i < n; ++i) CHECK(hits[i] == 1);
  }
}

TEST_CASE("data order: permutations differ between epochs and seeds, and are not the identity") {
  const uint64_t n = 1000;
  auto order = [&](uint64_t seed, uint64_t epoch) {
    std::vector<uint64_t> v;
    EpochPermutation p(seed, epoch, n);
    for (uint64_t i = 0; i < n; ++i) v.push_back(p(i));
    return v;
  };
  const std::vector<uint64_t> a = order(0, 0), b = order(0, 1), c = order(1, 0);
  auto fixed_points = [&](const std::vector<uint64_t>& v) {
    int f = 0;
    for (uint64_t i = 0; i < n; ++i) f += v[i] == i;
    return f;
  };
  auto agree = [&](const std::vector<uint64_t>& x, const std::vector<uint64_t>& y) {
    int f = 0;
    for (uint64_t i = 0; i < n; ++i) f += x[i] == y[i];
    return f;
  };
  // A random permutation has about one fixed point and agrees with another in about one place.
  CHECK(fixed_points(a) < 10);
  CHECK(agree(a, b) < 10);
  CHECK(agree(a, c) < 10);
  CHECK(order(0, 0) == a);
}

TEST_CASE("data order: where an element lands is spread evenly over the positions") {
  // Over 2000 epochs, element 0 of a 10-element set should sit at each position ~200 times.
  const uint64_t n = 10, epochs = 2000;
  std::vector<int> at(n, 0);
  for (uint64_t e = 0; e < epochs; ++e) {
    EpochPermutation p(5, e, n);
    for (uint64_t i = 0; i < n; ++i)
      if (p(i) == 0) ++at[i];
  }
  double chi2 = 0;
  for (int c : at) chi2 += (c - 200.0) * (c - 200.0) / 200.0;
  CAPTURE(chi2);
  CHECK(chi2 < 30);  // 9 degrees of freedom: p < 0.001
}

TEST_CASE("data order: consecutive steps visit every entry once per epoch, batches straddling epochs") {
  const uint64_t n = 10, batch = 3, steps = 20;  // 60 positions: 6 epochs
  std::vector<int64_t> all;
  for (uint64_t s = 0; s < steps; ++s) {
    const std::vector<int64_t> b = global_batch_indices(11, n, s, batch);
    REQUIRE(b.size() == batch);
    for (uint64_t j = 0; j < batch; ++j) CHECK(b[j] == int64_t(index_at(11, n, global_position(s, batch, j))));
    all.insert(all.end(), b.begin(), b.end());
  }
  for (uint64_t e = 0; e < 6; ++e) {
    std::set<int64_t> seen(all.begin() + int64_t(e * n), all.begin() + int64_t((e + 1) * n));
    CHECK(seen.size() == n);
  }
}

TEST_CASE("data order: keyed normals are standard normal and depend on the position only") {
  std::vector<float> a(100000), b(100000), c(100000);
  sample_normals(3, 17, a.data(), a.size());
  sample_normals(3, 17, b.data(), b.size());
  sample_normals(3, 18, c.data(), c.size());
  CHECK(a == b);
  CHECK(a != c);
  double mean = 0, var = 0;
  for (float v : a) mean += v;
  mean /= double(a.size());
  for (float v : a) var += (v - mean) * (v - mean);
  var /= double(a.size());
  CHECK(std::abs(mean) < 0.02);
  CHECK(std::abs(var - 1) < 0.02);
  // A prefix is the same draw: an odd count ends with the block's first normal.
  std::vector<float> d(5);
  sample_normals(3, 17, d.data(), d.size());
  for (int i = 0; i < 5; ++i) CHECK(d[size_t(i)] == a[size_t(i)]);
}

TEST_CASE("data order: keyed choices are uniform") {
  std::vector<int> count(2, 0);
  for (uint64_t g = 0; g < 20000; ++g) ++count[sample_choice(9, g, 2)];
  CHECK(std::abs(count[0] - 10000) < 400);  // 4 standard deviations of a fair coin
  for (uint64_t g = 0; g < 1000; ++g) CHECK(sample_choice(9, g, 7) < 7);
}

TEST_CASE("data order: positions beyond 2^62 samples and bad sizes are refused") {
  CHECK_THROWS(global_position(uint64_t(1) << 61, 4, 0));
  CHECK_THROWS(global_position(0, 4, 4));
  CHECK_THROWS(EpochPermutation(0, 0, 0));
  CHECK_THROWS(EpochPermutation(0, 0, 5)(5));
}
