// The training loop behind `promoe train`: data, objective (rectified flow or DDPM), AdamW with
// optional warm-up, global-norm clipping, EMA, class dropout, JSONL log, progress bar, atomic
// checkpoints and exact resume, fp32 or bf16 mixed-precision products. A fixed seed gives identical runs.
// Started by mpirun, every rank trains its share of the global batch (training/data_parallel.h;
// docs/DISTRIBUTED.md); the random draws depend on (seed, step, sample position) only.
#pragma once
#include <string>

#include "training/config_edits.h"

namespace promoe::training {

struct TrainOptions {
  std::string preset = "ProMoE-Tiny";
  ConfigEdits model_edits;  // --config / --set on top of the preset
  // "fashion-mnist", a Fashion-MNIST directory, latents (.safetensors/.npy/dir) loaded whole, or a
  // streamed set read per step: a sharded folder (index.json) or a .latent.npz class tree.
  std::string data = "fashion-mnist";
  std::string objective = "rf";  // rf | ddpm
  int64_t steps = 2000;
  int64_t batch = 64;
  double lr = 1e-4;
  int64_t warmup = 0;  // linear warm-up steps
  double clip = 0.5;   // global-norm clip; <= 0 disables
  double weight_decay = 0.0;
  double ema_decay = 0.9999;
  uint64_t seed = 0;
  int64_t limit = -1;                // use only the first N training examples
  double latent_scale = 0;           // streamed latent sets: sample scaling (0: the set's own, 0.18215 for moments)
  std::string out = "runs/default";  // checkpoint.safetensors, log.jsonl
  int64_t checkpoint_every = 500;
  int64_t log_every = 10;
  int64_t val_every = 0;           // log `val_loss` on the held-out split every N steps (0: never; Fashion-MNIST only)
  int64_t val_size = 512;          // held-out images: the first val_size of the Fashion-MNIST test split
  int64_t routing_every = 0;       // write <out>/routing/ every N steps (0: only at the end; MoE models)
  int64_t stop_after = -1;         // stop (with a checkpoint) after this many steps of this run
  bool resume = false;             // continue from <out>/checkpoint.safetensors
  std::string device = "cpu";      // cpu or cuda
  std::string precision = "fp32";  // matrix products: fp32 | bf16 (mixed, fp32 master weights; tensor/precision.h)
  bool progress = true;
  double bucket_mb = 4;  // several ranks: gradient MiB per all-reduce started during backward (0: one after it)
  // Several ranks: routing losses (RCL, load balance) over the global batch instead of per rank
  // (the official code's default, kept here).
  bool global_routing_losses = false;
  // Several ranks: split the routed experts of every MoE layer over them (moe/expert_parallel.h).
  bool expert_parallel = false;
  std::string to_json() const;
};

struct TrainSummary {
  int64_t first_step = 0, last_step = 0;
  double final_loss = 0;
  std::string checkpoint;
};

TrainSummary train(const TrainOptions& options);

}  // namespace promoe::training
