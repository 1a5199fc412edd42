// Expert specialisation as one number: the mutual information between a token's class and the
// expert it is assigned to, from a (classes x experts) matrix of assignment counts (the matrix the
// routing report writes per MoE block). 0 when routing ignores the class; log(min(classes,
// experts)) at most, reached when each class owns its own experts.
#pragma once
#include <vector>

namespace promoe::eval {

struct Specialisation {
  double mutual_information = 0;  // I(class; expert) in nats
  double normalised = 0;          // I / H(class), in [0, 1] (0 when H(class) = 0)
};

// counts[c][e] >= 0: tokens of class c assigned to expert e; rows of one length. An all-zero
// matrix gives zeros.
Specialisation class_expert_specialisation(const std::vector<std::vector<double>>& counts);

}  // namespace promoe::eval
