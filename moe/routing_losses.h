// The routing losses: the routing contrastive loss (RCL, docs/PROMOE.md §2.6 and §3) with the fused
// centroid op it is built on, and the load-balance loss (§2.8).
#pragma once
#include <vector>

#include "autograd/ops.h"
#include "nn/dit.h"

namespace promoe::moe {

// Means of groups of rows: out[g] = mean over members m with group[m] == g of U[rows[m]].
// U (T, D), rows and group (M) index lists on the host (routing decisions) -> (num_groups, D).
// Every group must have a member. Up to
// num_groups * T <= dense_limit, a product with the dense (num_groups, T) averaging matrix; beyond,
// one op gathering and scattering rows with a hand-written backward
// (g_U[rows[m]] += g_out[group[m]] / |group|).
Tensor group_means(const Tensor& U, const std::vector<int64_t>& rows, const std::vector<int64_t>& group,
                   int64_t num_groups, int64_t dense_limit = int64_t(1) << 22);
// The same composed from index_select / index_add / div (gradient checks).
Tensor group_means_reference(const Tensor& U, const std::vector<int64_t>& rows, const std::vector<int64_t>& group,
                             int64_t num_groups);

// Row-wise cross-entropy of logits cos(P_i, M_j) / tau with target j = i, averaged over rows.
// protos (R, D); means (R, D) or (Bc, R, D) (one set of centroids per image, expert choice: the
// loss then averages over all Bc * R rows). Cosines use F.normalize's eps 1e-12.
Tensor contrastive_loss(const Tensor& protos, const Tensor& means, double tau);

// ProMoE token-choice RCL: tokens are rows of U, `members` lists (token row, routed expert) pairs
// (the top-k slots of each conditional token, or slot 0 only). Centroids of the experts with at
// least one member, in ascending expert order, against their prototypes P (E, D). Returns a
// constant 0 (no gradient) when fewer than two experts are valid.
Tensor token_choice_rcl(const Tensor& U, const Tensor& P, const std::vector<int64_t>& member_rows,
                        const std::vector<int64_t>& member_experts, double tau);

// Load balance sum_i f_i * mean_t(probs[t, i]), f_i = E * (slots assigned to i) / (rows * K).
// probs (n, E) differentiable; assigned (n * K) expert ids of the top-k slots (constants).
Tensor load_balance_loss(const Tensor& probs, const std::vector<int64_t>& assigned);

// The same two losses over the global batch of a data-parallel job: the per-expert token counts,
// the per-expert sums of the member rows (RCL) and of the routing probabilities (load balance) are
// summed over the ranks (`ranks`) before the loss is formed, so N ranks holding B/N images each
// compute the loss one process computes on all B. Every rank gets the same loss; the backward of
// the sum over ranks multiplies by the rank count, so that the averaged gradients equal one
// process's. Every rank must call these in the same order (they communicate), also with no member
// rows or no conditional tokens of its own.
Tensor token_choice_rcl_global(const Tensor& U, const Tensor& P, const std::vector<int64_t>& member_rows,
                               const std::vector<int64_t>& member_experts, double tau, nn::ReplicaSum& ranks);
// Expert-choice RCL (contrastive_loss of per-image centroids, a mean over the Bc·E rows of every
// conditional image) over the global batch: the Bc-weighted mean of the ranks' losses. `means` is
// this rank's (Bc, E, D), undefined when it has no conditional image (Bc = 0).
Tensor expert_choice_rcl_global(const Tensor& P, const Tensor& means, int64_t cond_images, double tau,
                                nn::ReplicaSum& ranks, DType dtype, Device device);
// probs (n, E), n >= 0 (undefined for n = 0: pass num_experts).
Tensor load_balance_loss_global(const Tensor& probs, const std::vector<int64_t>& assigned, int64_t num_experts,
                                nn::ReplicaSum& ranks, DType dtype, Device device);
// Differentiable sum over the ranks: forward ranks.sum(x), backward g · ranks.replicas().
Tensor sum_over_replicas(const Tensor& x, nn::ReplicaSum& ranks);

}  // namespace promoe::moe
