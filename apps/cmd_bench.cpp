// `promoe bench`: timing of the runtime's kernels and of whole training steps (docs/PERF.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "apps/bench_moe.h"
#include "apps/bench_runtime.h"
#include "apps/bench_sample.h"
#include "apps/commands.h"
#include "apps/model_options.h"
#include "apps/option_range.h"
#include "autograd/ops.h"
#include "diffusion/rectified_flow.h"
#include "nn/optim.h"
#include "tensor/precision.h"

namespace promoe::apps {

namespace {

// One preset's model, optimizer and random batch, stepping through RF training steps (forward,
// backward, clip, AdamW) with its products in `precision`.
class StepRunner {
 public:
  StepRunner(const std::string& preset, const training::ConfigEdits& edits, int64_t batch, Device device,
             GemmPrecision precision)
      : name(preset),
        spec(training::edited_spec(preset, edits)),
        flops(moe::training_step_flops(spec, batch)),
        device_(device),
        precision_(precision),
        model_(spec.build(0)),
        gen_(1) {
    model_->to(device);
    model_->train(true);
    params_ = model_->named_parameters();
    opt_ = std::make_unique<nn::AdamW>(params_, nn::AdamWOptions{});
    const auto& c = spec.dit;
    x0_ = gen_.randn({batch, c.in_channels, c.input_size, c.input_size}, DType::F32, device);
    y_ = gen_.randint({batch}, 0, c.num_classes, device);
  }

  // Wall time of one step in ms.
  double step() {
    auto t0 = std::chrono::steady_clock::now();
    const GemmPrecisionGuard gemms(precision_);
    nn::ForwardContext ctx;
    ctx.generator = &gen_;
    ctx.aux = true;
    auto fn = [&](const Tensor& x, const Tensor& t, const Tensor& l) { return model_->forward(x, t, l, ctx); };
    Tensor loss = diffusion::rf_training_loss(fn, x0_, y_, gen_).loss;
    for (auto& [n, a] : ctx.aux_losses) loss = loss + a;
    loss.backward();
    opt_->step(nn::grad_clip(params_, 0.5).scale);
    opt_->zero_grad();
    if (!device_.is_cpu()) (void)loss.item();  // a copy to the host waits for every queued kernel
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  const std::string name;
  const training::ModelSpec spec;
  const double flops;  // matmul FLOPs per step (moe/model.h)
  std::vector<double> ms;
  double peak_mb = 0;

 private:
  Device device_;
  GemmPrecision precision_;
  std::shared_ptr<nn::DiT> model_;
  NamedTensors params_;
  std::unique_ptr<nn::AdamW> opt_;
  Generator gen_;
  Tensor x0_, y_;
};

// Every preset takes one warm-up step, then the timed steps alternate between the presets, so
// that all of them see the same machine conditions. Peak memory is the backend's high-water mark
// over each preset's own timed steps.
void bench_steps(const std::vector<std::string>& presets, const training::ConfigEdits& edits, int64_t batch,
                 int repeats, Device device, GemmPrecision precision, double peak_tflops) {
  std::vector<std::unique_ptr<StepRunner>> runners;
  for (const std::string& p : presets) {
    runners.push_back(std::make_unique<StepRunner>(p, edits, batch, device, precision));
    runners.back()->step();  // warm-up: first-touch allocations
  }
  Backend& be = backend_for(device);
  for (int r = 0; r < repeats; ++r)
    for (auto& run : runners) {
      be.reset_peak();
      run->ms.push_back(run->step());
      run->peak_mb = std::max(run->peak_mb, double(be.peak_bytes()) / 1e6);
    }
  std::printf("%-16s %8s %12s %12s %12s %10s%s\n", "preset", "batch", "median_ms", "min_ms", "peak_MB", "TFLOP/s",
              peak_tflops > 0 ? "      MFU" : "");
  for (auto& run : runners) {
    std::vector<double> ms = run->ms;
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2], tflops = run->flops / (median * 1e-3) / 1e12;
    std::printf("%-16s %8lld %12.1f %12.1f %12.1f %10.3f", run->name.c_str(), (long long)batch, median, ms[0],
                run->peak_mb, tflops);
    if (peak_tflops > 0) std::printf(" %7.1f%%", 100 * tflops / peak_tflops);
    std::printf("\n");
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench",
                                 "Benchmarks: --what runtime (kernels), step (training steps), moe (one MoE "
                                 "layer against a dense MLP of equal FLOPs) or sample (generating samples)");
  auto what = std::make_shared<std::string>("step");
  auto presets = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"ProMoE-Tiny", "Dense-Tiny"});
  auto batch = std::make_shared<int64_t>(16);
  auto repeats = std::make_shared<int>(5);
  auto threads = std::make_shared<int>(2);
  auto device = std::make_shared<std::string>("cpu");
  auto precision = std::make_shared<std::string>("fp32");
  auto peak = std::make_shared<double>(0.0);
  auto edits = std::make_shared<training::ConfigEdits>();
  auto sample = std::make_shared<SampleBenchOptions>();
  cmd->add_option("--device", *device, "cpu or cuda (step)")->capture_default_str();
  ranged(cmd->add_option("--peak-tflops", *peak,
                         "The device's peak TFLOP/s for the chosen precision; adds an MFU column (step; 0: none)"),
         0.0, 1e9)
      ->capture_default_str();
  cmd->add_option("--precision", *precision, "Matrix products: fp32 or bf16 (step)")->capture_default_str();
  cmd->add_option("--what", *what, "runtime, step, moe or sample")->capture_default_str();
  auto* preset_opt = cmd->add_option("--preset", *presets,
                                     "Presets to time (step; their timed steps alternate), or the one preset (sample)");
  add_config_edit_options(cmd, *edits);  // applied to every preset (step, moe)
  auto* batch_opt = ranged<int64_t>(cmd->add_option("--batch", *batch,
                                                    "Batch size (step, moe; sample: samples per model call, "
                                                    "default 64)"),
                                    1, kMaxBatch)
                        ->capture_default_str();
  cmd->add_option("--checkpoint", sample->checkpoint, "sample: a checkpoint's EMA weights instead of a random init");
  ranged<int64_t>(cmd->add_option("--num", sample->num, "sample: number of samples"), 1, kMaxSamples)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--steps", sample->steps, "sample: sampler steps"), 1, kMaxSamplerSteps)
      ->capture_default_str();
  ranged(cmd->add_option("--cfg", sample->cfg_scale, "sample: classifier-free guidance scale (1: off)"), 1.0, kMaxCfg)
      ->capture_default_str();
  cmd->add_option("--sampler", sample->sampler, "sample: euler, ddpm or ddim")->capture_default_str();
  auto* repeats_opt = ranged(cmd->add_option("--repeats", *repeats, "Timed repeats (sample: default 1)"), 1, 10000)
                          ->capture_default_str();
  add_threads_option(cmd, *threads);
  cmd->callback([what, presets, edits, batch, batch_opt, preset_opt, repeats, repeats_opt, threads, device, precision,
                 peak, sample] {
    set_threads(*threads);
    const GemmPrecision gemms = parse_gemm_precision(*precision);
    if (*what == "runtime") {
      RuntimeBenchOptions o;
      o.threads = *threads;
      o.repeats = *repeats;
      run_runtime_bench(o);
      return;
    }
    if (*what == "moe") {
      PROMOE_CHECK(*repeats > 0 && *batch > 0, "bench: --repeats and --batch must be positive");
      for (const std::string& p : *presets) run_moe_bench({p, *edits, *batch, *repeats, parse_device(*device), gemms});
      return;
    }
    if (*what == "sample") {
      // The step bench's defaults (two presets, 5 repeats, batch 16) are not the sample bench's.
      const bool preset_given = preset_opt->count() > 0;
      PROMOE_CHECK(!preset_given || presets->size() == 1, "bench: --what sample times one --preset");
      if (preset_given) sample->preset = presets->front();
      sample->edits = *edits;
      if (batch_opt->count() > 0) sample->batch = *batch;
      if (repeats_opt->count() > 0) sample->repeats = *repeats;
      sample->precision = *precision;
      run_sample_bench(*sample);
      return;
    }
    PROMOE_CHECK(*what == "step", "bench: unknown --what '", *what, "' (expected runtime, step, moe or sample)");
    PROMOE_CHECK(*repeats > 0 && *batch > 0, "bench: --repeats and --batch must be positive");
    bench_steps(*presets, *edits, *batch, *repeats, parse_device(*device), gemms, *peak);
  });
}

}  // namespace promoe::apps
