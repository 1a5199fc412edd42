// The ablation of `promoe ablate` (docs/ABLATION.md): which model variants are trained side by
// side, on what schedule, and how each is scored. Every variant is a preset plus configuration
// edits (training/config_edits.h), so any row can be re-run by hand with `promoe train --set`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "training/config_edits.h"

namespace promoe::apps {

struct AblationVariant {
  std::string id;           // directory and table key, e.g. "promoe_no_rcl"
  std::string description;  // the table's row name
  std::string preset;
  std::vector<std::string> sets;  // --set edits on top of the preset
  training::ConfigEdits edits() const { return {"", sets}; }
};

struct AblationPlan {
  std::vector<AblationVariant> variants;
  std::vector<uint64_t> seeds;  // one training run per variant and seed
  // Training: as the main job (scripts/run_main.sh), for every variant alike.
  int64_t steps = 1500, batch = 32, warmup = 100;
  double lr = 1e-3, ema_decay = 0.995;
  int64_t eval_every = 500;  // FD etc. after every eval_every steps (the FD-vs-steps curve) and at the end
  // Scoring: `num` samples (balanced over the classes) from the EMA weights, Euler steps, guidance.
  int64_t num = 1000, sample_steps = 25;
  double cfg = 1.0;
  int64_t val_size = 1000;                  // held-out test images for the validation loss
  int64_t limit = -1;                       // training examples (-1: all 60k)
  std::vector<int64_t> eval_steps() const;  // eval_every, 2 eval_every, ..., steps
};

// The core rows: dense DiT, token-choice MoE with load balance (DiT-MoE), ProMoE token choice,
// ProMoE without the routing contrastive loss, ProMoE without conditional routing.
std::vector<AblationVariant> core_variants();
// --full adds: expert-choice MoE (EC-DiT), ProMoE expert choice, ProMoE with softmax router scores.
std::vector<AblationVariant> full_extra_variants();

// The default plan, --full (all variants, twice the training), or --quick (a smoke run of seconds:
// every core row, 2 seeds, a few steps on a few hundred images, 20 samples).
AblationPlan default_plan();
AblationPlan full_plan();
AblationPlan quick_plan();

// Keeps the variants whose ids are listed (in the plan's order); an unknown id is an error
// listing the valid ones.
void select_variants(AblationPlan& plan, const std::vector<std::string>& ids);

}  // namespace promoe::apps
