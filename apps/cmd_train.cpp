// `promoe train`: trains a preset on Fashion-MNIST or user latents, then writes a sample grid.
#include <cstdio>

#include "apps/commands.h"
#include "apps/model_options.h"
#include "apps/option_range.h"
#include "dist/communicator.h"
#include "io/png.h"
#include "training/checkpoint.h"
#include "training/sampling.h"
#include "training/trainer.h"

namespace promoe::apps {

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model; writes <out>/checkpoint.safetensors, log.jsonl, samples.png");
  auto o = std::make_shared<training::TrainOptions>();
  auto grid = std::make_shared<training::SampleOptions>();
  auto threads = std::make_shared<int>(2);
  cmd->add_option("--preset", o->preset, "Model preset (see `promoe info --list`)")->capture_default_str();
  add_config_edit_options(cmd, o->model_edits);
  cmd->add_option("--data", o->data,
                  "fashion-mnist, a Fashion-MNIST directory, latents (.safetensors, .npy, dir), or a streamed set: "
                  "a sharded folder (index.json) or a .latent.npz class tree")
      ->capture_default_str();
  ranged(cmd->add_option("--latent-scale", o->latent_scale,
                         "Streamed sets: scale of the samples (0: the set's own; 0.18215 for posterior moments)"),
         0.0, 1e6)
      ->capture_default_str();
  cmd->add_option("--objective", o->objective, "rf (rectified flow) or ddpm")->capture_default_str();
  ranged<int64_t>(cmd->add_option("--steps", o->steps, "Total optimizer steps"), 1, kMaxSteps)->capture_default_str();
  ranged<int64_t>(cmd->add_option("--batch", o->batch, "Global batch size (under mpirun each rank takes its share)"), 1,
                  kMaxBatch)
      ->capture_default_str();
  ranged(cmd->add_option("--bucket-mb", o->bucket_mb,
                         "Under mpirun: gradient MiB per all-reduce, started during backward (0: one after it)"),
         0.0, 1024.0)
      ->capture_default_str();
  ranged(cmd->add_option("--lr", o->lr, "AdamW learning rate (any finite positive value)"),
         std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max())
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--warmup", o->warmup, "Linear warm-up steps"), 0, kMaxSteps)->capture_default_str();
  ranged(cmd->add_option("--clip", o->clip, "Global gradient-norm clip (0: off)"), 0.0, 1e30)->capture_default_str();
  ranged(cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay"), 0.0, 1e30)->capture_default_str();
  ranged(cmd->add_option("--ema-decay", o->ema_decay, "EMA decay"), 0.0, 1.0)->capture_default_str();
  ranged(cmd->add_option("--seed", o->seed, "Seed for initialisation, data order, noise and dropout"), uint64_t(0),
         std::numeric_limits<uint64_t>::max())
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--limit", o->limit, "Use only the first N training examples (-1: all)"), 1,
                  kMaxExamples, -1)
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Output directory")->capture_default_str();
  ranged<int64_t>(cmd->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints"), 1, kMaxSteps)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--log-every", o->log_every, "Steps between log lines"), 1, kMaxSteps)
      ->capture_default_str();
  ranged<int64_t>(
      cmd->add_option("--val-every", o->val_every, "Log val_loss on the held-out test images every N steps (0: never)"),
      0, kMaxSteps)
      ->capture_default_str();
  ranged<int64_t>(
      cmd->add_option("--val-size", o->val_size, "Held-out images for val_loss (first N of the test split)"), 1, 10000)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--routing-every", o->routing_every,
                                  "Write routing analytics to <out>/routing every N steps (0: at the end only)"),
                  0, kMaxSteps)
      ->capture_default_str();
  ranged<int64_t>(
      cmd->add_option("--stop-after", o->stop_after, "Stop this run after N steps (resume later with --resume)"), 1,
      kMaxSteps);
  cmd->add_flag("--resume", o->resume, "Continue from <out>/checkpoint.safetensors");
  cmd->add_flag("--global-routing-losses", o->global_routing_losses,
                "Under mpirun: routing losses over all ranks' tokens (default: per rank, as the official code)");
  cmd->add_flag(
      "--expert-parallel", o->expert_parallel,
      "Under mpirun: split the routed experts of every MoE layer over the ranks (tokens travel by all-to-all)");
  add_threads_option(cmd, *threads);
  cmd->add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", o->precision,
                  "Matrix products: fp32, or bf16 (mixed precision, fp32 master weights; also for the final grid)")
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--grid-per-class", grid->per_class, "Samples per class in the final grid (0: none)"),
                  0, kMaxPerClass)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--grid-steps", grid->steps, "Sampler steps for the final grid"), 1, kMaxSamplerSteps)
      ->capture_default_str();
  ranged(cmd->add_option("--grid-cfg", grid->cfg_scale, "Guidance scale for the final grid"), 0.0, kMaxCfg)
      ->capture_default_str();
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("--quiet", *quiet, "No progress bar");
  cmd->callback([o, grid, threads, quiet] {
    set_threads(*threads);
    o->progress = !*quiet;
    training::TrainSummary s = training::train(*o);
    if (!dist::is_root()) return;  // rank 0 reports and samples the grid
    std::printf("trained steps %lld..%lld, last loss %.5f, checkpoint %s\n", (long long)s.first_step,
                (long long)s.last_step, s.final_loss, s.checkpoint.c_str());
    if (grid->per_class <= 0 || s.last_step < o->steps) return;
    training::ModelSpec spec = training::edited_spec(o->preset, o->model_edits);
    auto model = spec.build(0);
    training::load_ema_weights(s.checkpoint, *model);
    model->to(parse_device(o->device));
    model->train(false);
    grid->sampler = o->objective == "rf" ? "euler" : "ddpm";
    grid->progress = !*quiet;
    grid->precision = o->precision;
    Tensor images = training::generate(*model, *grid);
    const std::string path = o->out + "/samples.png";
    io::write_image_grid_png(path, images, grid->per_class);
    std::printf("wrote %s (one row per class, EMA weights, %lld steps, cfg %.2f)\n", path.c_str(),
                (long long)grid->steps, grid->cfg_scale);
  });
}

}  // namespace promoe::apps
