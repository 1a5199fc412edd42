// `promoe bench`: timing of the runtime's kernels and of whole training steps (docs/PERF.md).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "apps/bench_runtime.h"
#include "apps/commands.h"
#include "autograd/ops.h"
#include "diffusion/rectified_flow.h"
#include "nn/optim.h"
#include "tensor/precision.h"
#include "training/model_spec.h"

namespace promoe::apps {

namespace {

struct StepTiming {
  double median_ms = 0, min_ms = 0;
  double peak_mb = 0;
};

// Median wall time of one RF training step (forward, backward, clip, AdamW) on random data, its
// products in `precision`.
StepTiming time_training_step(const std::string& preset, int64_t batch, int repeats, Device device,
                              GemmPrecision precision) {
  training::ModelSpec spec = training::ModelSpec::preset(preset);
  auto model = spec.build(0);
  model->to(device);
  model->train(true);
  NamedTensors params = model->named_parameters();
  nn::AdamW opt(params, {});
  Generator gen(1);
  const auto& c = spec.dit;
  Tensor x0 = gen.randn({batch, c.in_channels, c.input_size, c.input_size}, DType::F32, device);
  Tensor y = gen.randint({batch}, 0, c.num_classes, device);
  auto step = [&] {
    const GemmPrecisionGuard gemms(precision);
    nn::ForwardContext ctx;
    ctx.generator = &gen;
    ctx.aux = true;
    auto fn = [&](const Tensor& x, const Tensor& t, const Tensor& l) { return model->forward(x, t, l, ctx); };
    Tensor loss = diffusion::rf_training_loss(fn, x0, y, gen).loss;
    for (auto& [n, a] : ctx.aux_losses) loss = loss + a;
    loss.backward();
    opt.step(nn::grad_clip(params, 0.5).scale);
    opt.zero_grad();
    if (!device.is_cpu()) (void)loss.item();  // a copy to the host waits for every queued kernel
  };
  step();  // warm-up: first-touch allocations
  Backend& be = backend_for(device);
  be.reset_peak();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[0], double(be.peak_bytes()) / 1e6};
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Benchmarks: --what runtime (kernels) or step (training steps)");
  auto what = std::make_shared<std::string>("step");
  auto presets = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"ProMoE-Tiny", "Dense-Tiny"});
  auto batch = std::make_shared<int64_t>(16);
  auto repeats = std::make_shared<int>(5);
  auto threads = std::make_shared<int>(2);
  auto device = std::make_shared<std::string>("cpu");
  auto precision = std::make_shared<std::string>("fp32");
  cmd->add_option("--device", *device, "cpu or cuda (step)")->capture_default_str();
  cmd->add_option("--precision", *precision, "Matrix products: fp32 or bf16 (step)")->capture_default_str();
  cmd->add_option("--what", *what, "runtime or step")->capture_default_str();
  cmd->add_option("--preset", *presets, "Presets to time (step); rounds interleave between them");
  cmd->add_option("--batch", *batch, "Batch size (step)")->capture_default_str();
  cmd->add_option("--repeats", *repeats, "Timed repeats")->capture_default_str();
  cmd->add_option("--threads", *threads, "CPU threads")->capture_default_str();
  cmd->callback([what, presets, batch, repeats, threads, device, precision] {
    set_threads(*threads);
    const GemmPrecision gemms = parse_gemm_precision(*precision);
    if (*what == "runtime") {
      RuntimeBenchOptions o;
      o.threads = *threads;
      o.repeats = *repeats;
      run_runtime_bench(o);
      return;
    }
    PROMOE_CHECK(*what == "step", "bench: unknown --what '", *what, "' (expected runtime or step)");
    std::printf("%-16s %8s %12s %12s %12s\n", "preset", "batch", "median_ms", "min_ms", "peak_MB");
    for (const std::string& p : *presets) {
      StepTiming t = time_training_step(p, *batch, *repeats, parse_device(*device), gemms);
      std::printf("%-16s %8lld %12.1f %12.1f %12.1f\n", p.c_str(), (long long)*batch, t.median_ms, t.min_ms, t.peak_mb);
    }
  });
}

}  // namespace promoe::apps
