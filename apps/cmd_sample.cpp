// `promoe sample`: class-conditional samples from a checkpoint's EMA weights, as a PNG grid.
#include <cstdio>

#include "apps/commands.h"
#include "apps/option_range.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "tensor/precision.h"
#include "training/checkpoint.h"
#include "training/model_spec.h"
#include "training/sampling.h"

namespace promoe::apps {

void add_sample_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sample", "Sample a grid (one row per class) from a checkpoint");
  auto o = std::make_shared<training::SampleOptions>();
  auto ckpt = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("samples.png");
  auto threads = std::make_shared<int>(2);
  auto device = std::make_shared<std::string>("cpu");
  cmd->add_option("--checkpoint", *ckpt, "Checkpoint written by `promoe train`")->required();
  cmd->add_option("--out", *out, "Output PNG (or .safetensors for raw samples/latents)")->capture_default_str();
  ranged<int64_t>(cmd->add_option("--per-class", o->per_class, "Samples per class"), 1, kMaxPerClass)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--steps", o->steps, "Sampler steps"), 1, kMaxSamplerSteps)->capture_default_str();
  ranged(cmd->add_option("--cfg", o->cfg_scale, "Classifier-free guidance scale (1: off)"), 0.0, kMaxCfg)
      ->capture_default_str();
  cmd->add_option("--sampler", o->sampler, "euler (RF), ddpm or ddim (DDPM)")->capture_default_str();
  ranged(cmd->add_option("--seed", o->seed, "Noise seed"), uint64_t(0), std::numeric_limits<uint64_t>::max())
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--batch", o->batch, "Samples per model call"), 1, kMaxBatch)->capture_default_str();
  add_threads_option(cmd, *threads);
  cmd->add_option("--device", *device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", o->precision, "Matrix products: fp32 or bf16 (mixed precision)")
      ->capture_default_str();
  cmd->callback([o, ckpt, out, threads, device] {
    set_threads(*threads);
    parse_gemm_precision(o->precision);  // a bad value fails before the checkpoint is read
    training::CheckpointState state = training::read_checkpoint_state(*ckpt);
    training::ModelSpec spec = training::ModelSpec::from_file(state.model_config, *ckpt);
    auto model = spec.build(0);
    training::load_ema_weights(*ckpt, *model);
    model->to(parse_device(*device));
    model->train(false);
    Tensor images = training::generate(*model, *o);
    const bool raw_out = out->size() > 12 && out->substr(out->size() - 12) == ".safetensors";
    if (raw_out) {
      io::write_safetensors(*out, io::NamedTensors{{"samples", images}});
    } else {
      PROMOE_CHECK(spec.dit.in_channels == 1 || spec.dit.in_channels == 3, "sample: ", spec.dit.in_channels,
                   "-channel samples (latents) cannot be written as PNG; use --out samples.safetensors");
      io::write_image_grid_png(*out, images, o->per_class);
    }
    std::printf("wrote %s (%lld samples, step %lld checkpoint)\n", out->c_str(), (long long)images.size(0),
                (long long)state.step);
  });
}

}  // namespace promoe::apps
