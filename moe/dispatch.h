// Expert dispatch: one fused autograd op that runs a list of (token, expert, weight) assignments
// through a bank of GELU-tanh expert MLPs and combines the weighted outputs per token.
//
// The layers describe their routing as flat assignment lists: token choice gives T*K of them
// (one per slot), expert choice gives E*capacity per image, and the ProMoE unconditional expert
// adds one per null-label token with a constant weight of 1. The op sorts the assignments by
// expert (a counting sort, so each expert's rows are one contiguous segment), gathers the rows,
// runs each expert as two GEMMs over its segment and scatters w * Expert_e(u) back with index_add.
// No padding, no per-expert masks over the batch (docs/ARCHITECTURE.md, "MoE dispatch").
#pragma once
#include <vector>

#include "autograd/ops.h"

namespace promoe::moe {

// One expert MLP: Linear(D -> I) -> GELU(tanh) -> Linear(I -> D), PyTorch (out, in) layout.
struct ExpertWeights {
  Tensor w1;  // (I, D) up / fc1 weight
  Tensor b1;  // (I)
  Tensor w2;  // (D, I) down / fc2 weight
  Tensor b2;  // (D)
};

// A routing decision: assignment a sends row token[a] of U to expert expert[a] with weight
// weight[a]. A token may appear several times (top-k, several experts picking it, or the same
// expert twice: the contributions add up).
struct Assignments {
  Tensor token;   // (A) i64 in [0, T)
  Tensor expert;  // (A) i64 in [0, number of experts)
  Tensor weight;  // (A) same float dtype as U; differentiable (constant entries need no grad)
  // The index lists on the host where the routing built them there (make_assignments): dispatch
  // plans its segments from them instead of reading token and expert back (a wait on a GPU).
  std::vector<int64_t> token_host, expert_host;
};

// Builds assignments from host-side index lists (uploaded to `weight`'s device, kept on the host).
Assignments make_assignments(const std::vector<int64_t>& token, const std::vector<int64_t>& expert,
                             const Tensor& weight);
// Token-choice slot tables: idx (T, K) i64, w (T, K) -> T*K assignments, token-major.
Assignments from_slots(const Tensor& idx, const Tensor& w);

// O (T, D) with O[t] = sum over assignments a of token t of weight[a] * Expert_{expert[a]}(U[t]),
// plus Shared(U[t]) with a shared expert (any width; it runs in the same grouped calls as the
// routed experts). U (T, D). Backward gives U, the assignment weights (<g_O[t], Expert_e(u_t)>) and
// every expert parameter: experts that received no assignment get zero gradients (never
// undefined), so an optimizer steps them as PyTorch does after the official code's dummy "touch"
// (docs/PROMOE.md §2.5).
Tensor dispatch(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts,
                const ExpertWeights* shared = nullptr);

// The same result composed from differentiable primitives, expert by expert (gradient checks).
// Idle experts receive no gradient here.
Tensor dispatch_reference(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts,
                          const ExpertWeights* shared = nullptr);

}  // namespace promoe::moe
