// The ablation's report: per variant the mean ± std over seeds of the final FD, KID, precision,
// recall, class accuracy, validation loss and specialisation, as Markdown (results.md) and CSV
// (results.csv, and every run's every point in points.csv), and FD against training steps with a
// ±1 std band per variant (fd_vs_steps.png).
#pragma once
#include <string>
#include <vector>

#include "apps/ablation_plan.h"
#include "apps/ablation_run.h"

namespace promoe::apps {

// Writes the four files into `dir` and returns the Markdown.
std::string write_ablation_report(const AblationPlan& plan, const std::vector<RunResult>& runs, const std::string& dir,
                                  const std::string& command);

}  // namespace promoe::apps
