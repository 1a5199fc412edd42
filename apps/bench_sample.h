// Sampling benchmark (`promoe bench --what sample`): the wall time of generating `num` samples of a
// preset (random init) or a checkpoint's EMA weights with training::generate, the code `promoe
// sample` runs, so the time is what an evaluation set costs (docs/PERF.md "Sampling").
#pragma once
#include <cstdint>
#include <string>

#include "training/config_edits.h"

namespace promoe {

struct SampleBenchOptions {
  std::string preset = "ProMoE-Tiny";  // used unless `checkpoint` is set
  training::ConfigEdits edits;         // --config / --set on top of the preset
  std::string checkpoint;              // a `promoe train` checkpoint: its configuration and EMA weights
  int64_t num = 1000;                  // samples, balanced over the classes
  int64_t steps = 50;
  double cfg_scale = 1.5;
  std::string sampler = "euler";
  int64_t batch = 64;  // samples per model call
  int repeats = 1;     // timed runs after one untimed warm-up run of one batch and two steps
  std::string precision = "fp32";
};

// Prints one line per timed run and a summary line
//   sample <what> num N steps S cfg G batch B median_s M min_s m ms_per_sample_step x
// that tests/twin/bench_twin.py --what sample parses.
void run_sample_bench(const SampleBenchOptions& options);

}  // namespace promoe
