// The ablation's variants and schedules.
#include "apps/ablation_plan.h"

#include "tensor/error.h"

namespace promoe::apps {

std::vector<int64_t> AblationPlan::eval_steps() const {
  std::vector<int64_t> out;
  for (int64_t s = eval_every; s < steps; s += eval_every) out.push_back(s);
  out.push_back(steps);
  return out;
}

std::vector<AblationVariant> core_variants() {
  // Equal activated parameters: ProMoE's top-1 routed expert (width 2D) plus the shared expert
  // (2D) match the dense MLP (4D) and TC-MoE's top-1 full-width expert (`promoe info` counts them).
  return {
      {"dense", "Dense DiT", "Dense-Tiny", {}},
      {"tc_lb", "Token-choice MoE + load balance (DiT-MoE)", "TC-Tiny", {}},
      {"promoe", "ProMoE (token choice)", "ProMoE-Tiny", {}},
      {"promoe_no_rcl", "ProMoE without routing contrastive loss", "ProMoE-Tiny", {"moe.rcl_lambda=0"}},
      {"promoe_no_uncond",
       "ProMoE without conditional routing (no uncond expert)",
       "ProMoE-Tiny",
       {"moe.use_uncond_expert=false"}},
  };
}

std::vector<AblationVariant> full_extra_variants() {
  return {
      {"ec", "Expert-choice MoE (EC-DiT)", "EC-Tiny", {}},
      {"promoe_ec", "ProMoE (expert choice)", "ProMoE-EC-Tiny", {}},
      {"promoe_softmax", "ProMoE with softmax router scores", "ProMoE-Tiny", {"moe.router_weight_mode=softmax"}},
  };
}

AblationPlan default_plan() {
  AblationPlan p;
  p.variants = core_variants();
  p.seeds = {0, 1, 2};
  return p;
}

AblationPlan full_plan() {
  AblationPlan p = default_plan();
  for (AblationVariant& v : full_extra_variants()) p.variants.push_back(v);
  p.steps = 3000;
  p.eval_every = 750;
  return p;
}

AblationPlan quick_plan() {
  AblationPlan p;
  p.variants = core_variants();
  p.seeds = {0, 1};
  p.steps = 4;
  p.batch = 8;
  p.warmup = 0;
  p.eval_every = 2;
  p.num = 20;
  p.sample_steps = 2;
  p.val_size = 20;
  p.limit = 200;
  return p;
}

void select_variants(AblationPlan& plan, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::vector<AblationVariant> all = core_variants(), kept;
  for (AblationVariant& v : full_extra_variants()) all.push_back(v);
  std::string valid;
  for (const AblationVariant& v : all) valid += (valid.empty() ? "" : ", ") + v.id;
  for (const std::string& id : ids) {
    bool known = false;
    for (const AblationVariant& v : all) known = known || v.id == id;
    PROMOE_CHECK(known, "ablate: unknown variant '", id, "' (valid: ", valid, ")");
  }
  for (const AblationVariant& v : all)
    for (const std::string& id : ids)
      if (v.id == id) kept.push_back(v);
  plan.variants = kept;
}

}  // namespace promoe::apps
