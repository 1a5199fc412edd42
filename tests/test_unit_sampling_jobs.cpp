// Fast sampling stays exact: the job runner (tensor/jobs.h), and training::generate running its
// batches as parallel jobs against the sampler written out batch after batch, bit for bit.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "diffusion/samplers.h"
#include "tensor/jobs.h"
#include "training/model_spec.h"
#include "training/sampling.h"

using namespace promoe;

namespace {

// Sets the OpenMP thread count for one scope (the test binary runs with OMP_NUM_THREADS=1).
struct Threads {
  explicit Threads(int n) : prev(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(prev); }
  int prev;
};

// A preset's model with every parameter drawn at random (the init zeroes the adaLN and final
// layers, whose output would be 0), in eval mode.
std::shared_ptr<nn::DiT> random_model(const std::string& preset, uint64_t seed) {
  auto model = training::ModelSpec::preset(preset).build(seed);
  Generator gen(seed + 1);
  NoGradGuard ng;
  for (auto& [name, p] : model->named_parameters()) raw::copy_(p, gen.randn(p.shape(), p.dtype()) * 0.2);
  model->train(false);
  return model;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    worst = std::max(worst, double(std::fabs(va[i] - vb[i])));
    scale = std::max(scale, double(std::fabs(vb[i])));
  }
  if (worst > 0) MESSAGE("max |difference| = ", worst, " of a scale ", scale);
  return va == vb;
}

}  // namespace

TEST_CASE("jobs: every job runs once, kernels inside compute what they compute outside, errors come back") {
  Threads two(2);
  Generator gen(5);
  const int64_t n = 7;
  std::vector<Tensor> a, b, want(n), got(n);
  for (int64_t i = 0; i < n; ++i) {
    a.push_back(gen.randn({96, 130}));
    b.push_back(gen.randn({130, 70}));
    want[size_t(i)] = raw::softmax(raw::matmul(a[size_t(i)], b[size_t(i)]), 1);
  }
  std::vector<std::atomic<int>> runs(n);
  run_jobs(Device::cpu(), n, [&](int64_t i) {
    ++runs[size_t(i)];
    got[size_t(i)] = raw::softmax(raw::matmul(a[size_t(i)], b[size_t(i)]), 1);
  });
  for (int64_t i = 0; i < n; ++i) {
    CHECK(runs[size_t(i)] == 1);
    CHECK(same_bits(got[size_t(i)], want[size_t(i)]));
  }
  CHECK(concurrent_jobs(Device::cpu()) == 2);
  CHECK_THROWS_WITH(run_jobs(Device::cpu(), 4,
                             [](int64_t i) {
                               if (i == 2) PROMOE_FAIL("job 2 failed");
                             }),
                    doctest::Contains("job 2 failed"));
}

TEST_CASE("sampling: batches sampled as parallel jobs give the samples of one batch after another") {
  Threads two(2);
  auto model = random_model("ProMoE-Tiny", 4);
  training::SampleOptions o;
  o.labels = {2, 7, 7, 0, 9, 1, 4};
  o.steps = 4;
  o.cfg_scale = 2.0;
  o.seed = 11;
  o.progress = false;
  o.batch = 3;  // three batches: jobs on two threads
  Tensor jobs = training::generate(*model, o);

  // The reference: the Euler loop written out, batch after batch, the null-label pass separate.
  Generator gen(o.seed);
  NoGradGuard ng;
  const std::vector<float> sigmas = diffusion::rf_sampling_sigmas(o.steps);
  std::vector<Tensor> parts;
  for (int64_t at = 0; at < 7; at += 3) {
    const int64_t b = std::min<int64_t>(3, 7 - at);
    Tensor y = raw::from_vector<int64_t>(std::vector<int64_t>(o.labels.begin() + at, o.labels.begin() + at + b), {b});
    Tensor x = gen.randn({b, 1, 32, 32});
    for (int64_t i = 0; i < o.steps; ++i) {
      Tensor t = raw::full({b}, double(sigmas[size_t(i)] * 1000.0f));
      Tensor cond = model->forward(x, t, y), uncond = model->forward(x, t, raw::full({b}, 10.0, DType::I64));
      Tensor v = narrow(uncond + (cond - uncond) * o.cfg_scale, 1, 0, 1);
      x = x + v * double(sigmas[size_t(i) + 1] - sigmas[size_t(i)]);
    }
    parts.push_back(x);
  }
  CHECK(same_bits(jobs, raw::cat(parts, 0)));

  // One thread: the same jobs one after another.
  Threads one(1);
  CHECK(same_bits(training::generate(*model, o), jobs));
}
