// `promoe ablate`: the paper's ablation at small scale (docs/ABLATION.md). Trains every variant
// with every seed on Fashion-MNIST at equal steps and equal activated parameters, scores each run
// along the way with `promoe eval`'s metrics, and writes results.md, results.csv, points.csv and
// fd_vs_steps.png into --out. Resumable: run the same command again after a stop.
#include <cstdio>
#include <filesystem>

#include "apps/ablation_plan.h"
#include "apps/ablation_run.h"
#include "apps/ablation_table.h"
#include "apps/commands.h"
#include "apps/option_range.h"

namespace promoe::apps {

namespace {

struct AblateArgs {
  bool quick = false, full = false, quiet = false;
  std::string out = "runs/ablation";
  std::string data = "fashion-mnist";
  std::string features = PROMOE_DEFAULT_FEATURES;
  std::vector<std::string> variants;
  std::vector<uint64_t> seeds;
  int64_t steps = 0, eval_every = 0, num = 0, sample_steps = 0;  // 0: the plan's
  double cfg = 0;
  int threads = 2;
};

AblationPlan plan_of(const AblateArgs& a) {
  PROMOE_CHECK(!(a.quick && a.full), "ablate: --quick and --full exclude each other");
  AblationPlan p = a.quick ? quick_plan() : a.full ? full_plan() : default_plan();
  select_variants(p, a.variants);
  if (!a.seeds.empty()) p.seeds = a.seeds;
  if (a.steps > 0) p.steps = a.steps;
  if (a.eval_every > 0) p.eval_every = a.eval_every;
  if (a.num > 0) p.num = a.num;
  if (a.sample_steps > 0) p.sample_steps = a.sample_steps;
  if (a.cfg > 0) p.cfg = a.cfg;
  PROMOE_CHECK(p.eval_every <= p.steps, "ablate: --eval-every ", p.eval_every, " exceeds --steps ", p.steps);
  return p;
}

// The command as typed, with the program as `promoe` wherever it was run from.
std::string command_line(int argc, char** argv) {
  std::string c = "promoe";
  for (int i = 1; i < argc; ++i) c += " " + std::string(argv[i]);
  return c;
}

}  // namespace

void add_ablate_command(CLI::App& app, int argc, char** argv) {
  auto* cmd = app.add_subcommand("ablate",
                                 "Train the paper's ablation variants side by side (seeds, equal steps and activated "
                                 "parameters), score them, write tables and an FD-vs-steps plot");
  auto a = std::make_shared<AblateArgs>();
  cmd->add_flag("--quick", a->quick, "A smoke run of seconds (tests): every core row, 2 seeds, 4 steps, 20 samples");
  cmd->add_flag("--full", a->full, "Add expert-choice MoE, ProMoE-EC and softmax router scores; train twice as long");
  cmd->add_option("--out", a->out, "Output directory (runs, results.md/csv, points.csv, fd_vs_steps.png)")
      ->capture_default_str();
  cmd->add_option("--variants", a->variants, "Only these variants (ids as in results.csv), e.g. promoe,dense")
      ->delimiter(',');
  ranged(cmd->add_option("--seeds", a->seeds, "Seeds, e.g. 0,1,2 (default: the plan's)")->delimiter(','), uint64_t(0),
         std::numeric_limits<uint64_t>::max());
  ranged<int64_t>(cmd->add_option("--steps", a->steps, "Training steps per run (default: the plan's)"), 1, kMaxSteps);
  ranged<int64_t>(cmd->add_option("--eval-every", a->eval_every, "Steps between scored points (default: the plan's)"),
                  1, kMaxSteps);
  ranged<int64_t>(cmd->add_option("--num", a->num, "Samples scored per point (default: the plan's)"), 2, 60000);
  ranged<int64_t>(cmd->add_option("--sample-steps", a->sample_steps, "Euler steps per sample (default: the plan's)"), 1,
                  kMaxSamplerSteps);
  ranged(cmd->add_option("--cfg", a->cfg, "Guidance scale of the scored samples (default: the plan's, 1 = off)"), 1.0,
         kMaxCfg);
  cmd->add_option("--data", a->data, "Fashion-MNIST directory (IDX files)")->capture_default_str();
  cmd->add_option("--features", a->features, "Feature network (written by `promoe eval --train-features`)")
      ->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  const std::string command = command_line(argc, argv);
  cmd->callback([a, command] {
    set_threads(a->threads);
    const AblationPlan plan = plan_of(*a);
    std::filesystem::create_directories(a->out);
    AblationScorer scorer(a->features, a->data, 0);
    std::vector<RunResult> runs;
    const size_t total = plan.variants.size() * plan.seeds.size();
    for (const AblationVariant& v : plan.variants)
      for (uint64_t seed : plan.seeds) {
        if (!a->quiet)
          std::fprintf(stderr, "[%zu/%zu] %s, seed %llu\n", runs.size() + 1, total, v.id.c_str(),
                       (unsigned long long)seed);
        runs.push_back(run_ablation(plan, v, seed, a->data, a->out + "/" + v.id + "/seed" + std::to_string(seed),
                                    scorer, !a->quiet));
      }
    std::printf("%s", write_ablation_report(plan, runs, a->out, command).c_str());
    std::printf("wrote %s/results.md, results.csv, points.csv, fd_vs_steps.png\n", a->out.c_str());
  });
}

}  // namespace promoe::apps
