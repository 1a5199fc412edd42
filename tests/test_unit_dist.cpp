// Data-parallel building blocks in one process: the keyed per-sample draws of a training step,
// the autograd engine's gradient-ready hook, and bucketed gradient averaging on the one-process
// communicator. (The collectives themselves under mpirun: tests/dist.)
#include <doctest/doctest.h>

#include <map>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "dist/grad_average.h"
#include "dist/single_process.h"
#include "expect_error.h"
#include "tensor/ops.h"
#include "training/step_draws.h"

using namespace promoe;
using test::expect_error;

namespace {
std::vector<double> values(const Tensor& t) { return raw::to(t, DType::F64).to_vector<double>(); }
std::vector<double> joined(const Tensor& a, const Tensor& b) {
  std::vector<double> v = values(a), w = values(b);
  v.insert(v.end(), w.begin(), w.end());
  return v;
}
}  // namespace

TEST_CASE("step draws: two half-batch shards draw exactly what the whole batch draws") {
  Tensor images = raw::reshape(raw::arange(0, 20 * 4, 1, DType::F32), {20, 1, 2, 2});
  Tensor labels = raw::arange(20);
  for (bool rf : {true, false}) {
    CAPTURE(rf);
    const int64_t step = 7;
    training::StepBatch whole = training::draw_step_batch(3, step, {0, 6}, images, labels, rf, 1000, Device::cpu());
    training::StepBatch a = training::draw_step_batch(3, step, {0, 3}, images, labels, rf, 1000, Device::cpu());
    training::StepBatch b = training::draw_step_batch(3, step, {3, 3}, images, labels, rf, 1000, Device::cpu());
    CHECK(values(whole.x0) == joined(a.x0, b.x0));
    CHECK(values(whole.y) == joined(a.y, b.y));
    CHECK(values(whole.noise) == joined(a.noise, b.noise));
    if (rf)
      CHECK(values(whole.sigma) == joined(a.sigma, b.sigma));
    else
      CHECK(values(whole.t) == joined(a.t, b.t));
    CHECK(values(whole.class_dropout.uniform({6})) ==
          joined(a.class_dropout.uniform({3}), b.class_dropout.uniform({3})));
    // Another step, another seed: other draws.
    training::StepBatch next = training::draw_step_batch(3, step + 1, {0, 6}, images, labels, rf, 1000, Device::cpu());
    training::StepBatch other = training::draw_step_batch(4, step, {0, 6}, images, labels, rf, 1000, Device::cpu());
    CHECK(values(next.noise) != values(whole.noise));
    CHECK(values(other.noise) != values(whole.noise));
  }
  // The kinds are independent streams.
  CHECK(training::step_stream_key(1, 2, training::DrawKind::Sigma) !=
        training::step_stream_key(1, 2, training::DrawKind::ClassDropout));
}

TEST_CASE("step draws: a rank's shard of the global batch, which must divide evenly") {
  CHECK(training::rank_shard(8, 0, 2).begin == 0);
  CHECK(training::rank_shard(8, 1, 2).begin == 4);
  CHECK(training::rank_shard(8, 1, 2).count == 4);
  CHECK(training::rank_shard(8, 0, 1).count == 8);
  expect_error([] { training::rank_shard(6, 0, 4); }, {"--batch 6 (the global batch) does not divide among 4 ranks"});
}

TEST_CASE("autograd: the gradient-ready hook fires once per leaf, with the leaf's final gradient") {
  Tensor w = raw::full({3}, 2.0).set_requires_grad(true), v = raw::full({3}, 1.0).set_requires_grad(true);
  Tensor unused = raw::full({3}, 1.0).set_requires_grad(true);
  std::map<const TensorImpl*, std::vector<double>> seen;
  int calls = 0;
  {
    GradReadyHookGuard hook([&](const Tensor& leaf) {
      ++calls;
      seen[leaf.impl_ptr().get()] = values(leaf.grad());
    });
    // w is used by two ops (two AccumulateGrad nodes): its hook must see both contributions.
    Tensor loss = sum(w * v) + sum(w * w) + sum(v);
    loss.backward();
  }
  CHECK(calls == 2);
  CHECK(seen[w.impl_ptr().get()] == values(w.grad()));
  CHECK(seen[w.impl_ptr().get()] == std::vector<double>{5, 5, 5});  // v + 2w
  CHECK(seen[v.impl_ptr().get()] == std::vector<double>{3, 3, 3});  // w + 1
  CHECK(seen.count(unused.impl_ptr().get()) == 0);
  // Outside the guard nothing is called.
  sum(w).backward();
  CHECK(calls == 2);
}

TEST_CASE("dist: gradient buckets start in order as their parameters become ready, and average") {
  dist::SingleProcess one;
  std::vector<Tensor> params;
  for (int i = 0; i < 4; ++i) params.push_back(raw::full({256}, double(i)).set_requires_grad(true));
  // 1 KiB buckets: one parameter (256 f32) each, taken from the last parameter backwards.
  dist::GradientAverager avg(one, params, 1024);
  CHECK(avg.buckets() == 4);
  CHECK(avg.bytes_per_step() == 4 * 256 * 4);
  for (int i = 0; i < 3; ++i) params[size_t(i)].set_grad(raw::full({256}, 1.0 + i));
  avg.ready(params[0]);  // bucket 3 of 4: waits for the buckets before it
  avg.ready(params[3]);  // bucket 0 (no gradient: zeros)
  avg.ready(params[2]);  // bucket 1
  avg.finish();
  CHECK(avg.overlapped_last_step() == 2);
  CHECK(values(params[0].grad()) == std::vector<double>(256, 1.0));
  CHECK(values(params[2].grad()) == std::vector<double>(256, 3.0));
  CHECK(values(params[3].grad()) == std::vector<double>(256, 0.0));
  // No bucket limit: one reduction after backward.
  dist::GradientAverager whole(one, params, 0);
  CHECK(whole.buckets() == 1);
  whole.finish();
  CHECK(whole.overlapped_last_step() == 0);
  CHECK(values(params[1].grad()) == std::vector<double>(256, 2.0));
}

TEST_CASE("dist: the one-process communicator") {
  dist::SingleProcess single;
  dist::Communicator& one = single;
  Tensor t = raw::full({2, 2}, 3.0);
  one.all_reduce(t);
  CHECK(values(t) == std::vector<double>(4, 3.0));
  CHECK(one.all_gather(raw::scalar(5.0)).shape() == Shape{1});
  std::vector<int64_t> recv;
  CHECK(values(one.all_to_all(t, {2}, &recv)) == values(t));
  CHECK(recv == std::vector<int64_t>{2});
  expect_error([&] { one.all_to_all(t, {1}, nullptr); }, {"send counts sum to 1 but send has 2 rows"});
  expect_error([&] { one.broadcast(t, 1); }, {"broadcast from rank 1 of a 1-process job"});
}
