// Mutual information of a class x expert count matrix.
#include "moe/specialisation.h"

#include <cmath>

#include "tensor/error.h"

namespace promoe::moe {

Specialisation class_expert_specialisation(const std::vector<std::vector<double>>& counts) {
  PROMOE_CHECK(!counts.empty() && !counts[0].empty(), "specialisation: empty count matrix");
  const size_t experts = counts[0].size();
  std::vector<double> row(counts.size(), 0.0), col(experts, 0.0);
  double total = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    PROMOE_CHECK(counts[c].size() == experts, "specialisation: row ", c, " has ", counts[c].size(),
                 " experts, row 0 has ", experts);
    for (size_t e = 0; e < experts; ++e) {
      PROMOE_CHECK(counts[c][e] >= 0 && std::isfinite(counts[c][e]), "specialisation: count [", c, "][", e, "] is ",
                   counts[c][e]);
      row[c] += counts[c][e];
      col[e] += counts[c][e];
      total += counts[c][e];
    }
  }
  Specialisation s;
  if (total == 0) return s;
  double entropy = 0;
  for (double r : row)
    if (r > 0) entropy -= r / total * std::log(r / total);
  for (size_t c = 0; c < counts.size(); ++c)
    for (size_t e = 0; e < experts; ++e)
      if (counts[c][e] > 0)  // p(c, e) log(p(c, e) / (p(c) p(e)))
        s.mutual_information += counts[c][e] / total * std::log(counts[c][e] * total / (row[c] * col[e]));
  s.mutual_information = std::max(0.0, s.mutual_information);  // rounding below 0 when independent
  s.normalised = entropy > 0 ? s.mutual_information / entropy : 0.0;
  return s;
}

std::vector<BlockSpecialisation> block_specialisation(const RoutingStats& stats) {
  const MoeConfig& cfg = stats.config();
  const size_t classes = size_t(stats.num_classes());
  std::vector<BlockSpecialisation> out;
  for (const auto& [block, b] : stats.blocks()) {
    if (b.class_expert.size() <= classes) continue;  // no assignments recorded (a dense block)
    BlockSpecialisation s;
    s.block = block;
    s.classes = class_expert_specialisation({b.class_expert.begin(), b.class_expert.begin() + long(classes)});
    const std::vector<double>& null_row = b.class_expert[classes];
    double null_total = 0;
    for (double v : null_row) null_total += v;
    if (cfg.has_uncond_expert() && null_total > 0) s.null_to_uncond = null_row[size_t(cfg.num_experts)] / null_total;
    out.push_back(s);
  }
  return out;
}

}  // namespace promoe::moe
