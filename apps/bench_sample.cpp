// `promoe bench --what sample` (apps/bench_sample.h).
#include "apps/bench_sample.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "training/checkpoint.h"
#include "training/model_spec.h"
#include "training/sampling.h"

namespace promoe {

void run_sample_bench(const SampleBenchOptions& o) {
  PROMOE_CHECK(o.num > 0 && o.steps > 0 && o.batch > 0 && o.repeats > 0,
               "bench: --num, --steps, --batch and --repeats must be positive");
  training::ModelSpec spec = training::edited_spec(o.preset, o.edits);
  std::string what = o.preset;
  if (!o.checkpoint.empty()) {
    const training::CheckpointState state = training::read_checkpoint_state(o.checkpoint);
    spec = training::ModelSpec::from_file(state.model_config, o.checkpoint);
    what = o.checkpoint;
  }
  auto model = spec.build(0);
  if (!o.checkpoint.empty()) training::load_ema_weights(o.checkpoint, *model);
  model->train(false);

  training::SampleOptions so;
  so.labels = training::sample_labels("balanced", o.num, spec.dit.num_classes, 0);
  so.steps = o.steps;
  so.cfg_scale = o.cfg_scale;
  so.sampler = o.sampler;
  so.batch = o.batch;
  so.precision = o.precision;
  so.progress = false;

  training::SampleOptions warm = so;  // first-touch allocations and caches, untimed
  warm.labels.resize(size_t(std::min(o.num, o.batch)));
  warm.steps = std::min<int64_t>(o.steps, 2);
  (void)training::generate(*model, warm);

  // Wall seconds, and the CPU seconds of all threads (what the runs cost where other processes share
  // the cores and stretch the wall time).
  std::vector<double> s, cpu;
  for (int r = 0; r < o.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    (void)training::generate(*model, so);
    cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::printf("run %d/%d: %.3f s (%.3f s of CPU)\n", r + 1, o.repeats, s.back(), cpu.back());
  }
  std::sort(cpu.begin(), cpu.end());
  std::vector<double> sorted = s;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  std::printf(
      "sample %s num %lld steps %lld cfg %g batch %lld median_s %.3f min_s %.3f ms_per_sample_step %.4f "
      "median_cpu_s %.3f\n",
      what.c_str(), (long long)o.num, (long long)o.steps, o.cfg_scale, (long long)o.batch, median, sorted[0],
      1e3 * median / double(o.num * o.steps), cpu[cpu.size() / 2]);
}

}  // namespace promoe
