// The communicator's collectives, run by every rank of a job (tests/CMakeLists.txt starts this
// binary under `mpirun -np 2`, and alone, where it checks the one-process communicator). Each
// rank fills its inputs from its rank, so every expected value is known on every rank.
#include <doctest/doctest.h>

#include <numeric>

#include "dist/communicator.h"
#include "tensor/ops.h"

using namespace promoe;

namespace {
Tensor filled(const Shape& s, double base, DType d = DType::F32) {
  Tensor t = raw::arange(0, double(numel_of(s)), 1, d);
  return raw::add(raw::reshape(t, s), raw::scalar(base, d));
}
}  // namespace

TEST_CASE("dist: world names its rank and size consistently") {
  dist::Communicator& w = dist::world();
  CHECK(w.size() >= 1);
  CHECK(w.rank() >= 0);
  CHECK(w.rank() < w.size());
  CHECK(w.name() == (w.size() > 1 ? "mpi" : "single"));
  Tensor ranks = dist::world().all_gather(raw::scalar(double(w.rank()), DType::I64));
  REQUIRE(ranks.numel() == w.size());
  for (int r = 0; r < w.size(); ++r) CHECK(ranks.to_vector<int64_t>()[r] == r);
}

TEST_CASE("dist: all_reduce sums and maxes f32, f64 and i64 in place") {
  dist::Communicator& w = dist::world();
  const int n = w.size(), r = w.rank();
  for (DType d : {DType::F32, DType::F64, DType::I64}) {
    Tensor t = filled({3, 5}, 10.0 * r, d);
    w.all_reduce(t);
    Tensor expect =
        raw::add(raw::mul(filled({3, 5}, 0, d), raw::scalar(double(n), d)), raw::scalar(10.0 * n * (n - 1) / 2, d));
    CHECK(raw::to(t, DType::F64).to_vector<double>() == raw::to(expect, DType::F64).to_vector<double>());
    Tensor m = filled({7}, 10.0 * r, d);
    w.all_reduce(m, dist::ReduceOp::Max);
    CHECK(raw::to(m, DType::F64).to_vector<double>() ==
          raw::to(filled({7}, 10.0 * (n - 1), d), DType::F64).to_vector<double>());
  }
}

TEST_CASE("dist: all_reduce_async completes on wait and several may be in flight") {
  dist::Communicator& w = dist::world();
  const int n = w.size();
  std::vector<Tensor> ts;
  std::vector<std::unique_ptr<dist::Work>> works;
  for (int i = 0; i < 4; ++i) {
    ts.push_back(filled({1000 + i}, double(w.rank() + i)));
    works.push_back(w.all_reduce_async(ts.back()));
  }
  for (auto& wk : works) wk->test();  // progress, not completion
  for (auto& wk : works) wk->wait();
  for (int i = 0; i < 4; ++i) {
    Tensor expect =
        raw::add(raw::mul(filled({1000 + i}, 0), raw::scalar(double(n))), raw::scalar(double(n * i + n * (n - 1) / 2)));
    CHECK(ts[i].to_vector<float>() == expect.to_vector<float>());
    CHECK(works[i]->test());
  }
}

TEST_CASE("dist: broadcast copies the root's tensor to every rank") {
  dist::Communicator& w = dist::world();
  for (int root = 0; root < w.size(); ++root) {
    Tensor t = filled({2, 3}, 100.0 * w.rank(), DType::F64);
    w.broadcast(t, root);
    CHECK(t.to_vector<double>() == filled({2, 3}, 100.0 * root, DType::F64).to_vector<double>());
  }
  Tensor bad = filled({2}, 0);
  CHECK_THROWS_WITH_AS(w.broadcast(bad, w.size()), doctest::Contains("broadcast from rank"), Error);
}

TEST_CASE("dist: all_gather stacks the ranks' rows in rank order") {
  dist::Communicator& w = dist::world();
  Tensor t = filled({2, 3}, 100.0 * w.rank());
  Tensor g = w.all_gather(t);
  REQUIRE(g.shape() == Shape{2 * w.size(), 3});
  for (int r = 0; r < w.size(); ++r)
    CHECK(raw::clone(raw::narrow(g, 0, 2 * r, 2)).to_vector<float>() == filled({2, 3}, 100.0 * r).to_vector<float>());
}

TEST_CASE("dist: all_to_all with uneven counts delivers each rank's rows, counts exchanged") {
  dist::Communicator& w = dist::world();
  const int n = w.size(), me = w.rank();
  // Rank s sends (s + d + 1) rows to rank d, each row [s, d, j, j] for j = 0.. (including none
  // to itself when that count would be zero: here it never is, but rank 0 also sends 0 rows of
  // a second exchange below).
  std::vector<int64_t> counts(n);
  std::vector<double> rows;
  for (int d = 0; d < n; ++d) {
    counts[d] = me + d + 1;
    for (int64_t j = 0; j < counts[d]; ++j) rows.insert(rows.end(), {double(me), double(d), double(j), double(j)});
  }
  const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t(0));
  Tensor send = raw::reshape(raw::from_vector(rows, {total * 4}), {total, 4});
  std::vector<int64_t> recv_counts;
  Tensor got = w.all_to_all(send, counts, &recv_counts);
  REQUIRE(int64_t(recv_counts.size()) == n);
  std::vector<double> expect;
  for (int s = 0; s < n; ++s) {
    CHECK(recv_counts[s] == s + me + 1);
    for (int64_t j = 0; j < s + me + 1; ++j) expect.insert(expect.end(), {double(s), double(me), double(j), double(j)});
  }
  CHECK(got.to_vector<double>() == expect);

  std::vector<int64_t> none(n, 0);
  Tensor empty = Tensor::empty({0, 4}, DType::F64);
  Tensor got0 = w.all_to_all(empty, none, &recv_counts);
  CHECK(got0.shape() == Shape{0, 4});
  CHECK_THROWS_WITH_AS(w.all_to_all(send, none, nullptr), doctest::Contains("send counts sum to 0"), Error);
}

TEST_CASE("dist: a collective refuses a non-contiguous tensor and an unsupported dtype") {
  dist::Communicator& w = dist::world();
  Tensor t = raw::transpose(filled({2, 3}, 0), 0, 1);
  CHECK_THROWS_WITH_AS(w.all_reduce(t), doctest::Contains("contiguous"), Error);
  Tensor b = raw::to(filled({2}, 0), DType::BF16);
  CHECK_THROWS_WITH_AS(w.all_reduce(b), doctest::Contains("f32, f64 and i64"), Error);
  w.barrier();
}
