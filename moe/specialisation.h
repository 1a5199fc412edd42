// Expert specialisation as one number: the mutual information between a token's class and the
// expert it is assigned to, from a (classes x experts) matrix of assignment counts (the matrix the
// routing report writes per MoE block). 0 when routing ignores the class; log(min(classes,
// experts)) at most, reached when each class owns its own experts.
#pragma once
#include <optional>
#include <vector>

#include "moe/routing_stats.h"

namespace promoe::moe {

struct Specialisation {
  double mutual_information = 0;  // I(class; expert) in nats
  double normalised = 0;          // I / H(class), in [0, 1] (0 when H(class) = 0)
};

// counts[c][e] >= 0: tokens of class c assigned to expert e; rows of one length. An all-zero
// matrix gives zeros.
Specialisation class_expert_specialisation(const std::vector<std::vector<double>>& counts);

// One MoE block's specialisation from its routing statistics: the mutual information over the
// tokens of the real classes (the null-label row left out: it is the unconditional expert's), and
// the share of null-label tokens the unconditional expert takes (none without one, or without
// null-label tokens in the analysis).
struct BlockSpecialisation {
  int64_t block = 0;
  Specialisation classes;
  std::optional<double> null_to_uncond;
};
std::vector<BlockSpecialisation> block_specialisation(const RoutingStats& stats);

}  // namespace promoe::moe
