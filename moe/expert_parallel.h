// Expert parallelism (docs/DISTRIBUTED.md, "Expert parallelism"): the routed experts of every MoE
// layer are split over the ranks of a communicator, rank r holding a block of E/R of them. Routing
// stays on every rank (each rank routes its own tokens with the replicated router); then one
// all-to-all sends each routed token's row to the rank of its expert, that rank runs its experts
// over the rows it received, and a second all-to-all brings the outputs back, where they are
// weighted and summed per token. Backward sends the gradients the same two ways in reverse. The
// unconditional expert, the shared expert and everything outside the experts stay on every rank.
//
// Collectives: every rank runs the same MoE layers in the same order, so the all-to-alls match;
// each layer always makes both exchanges (with empty counts where a rank has nothing to send), and
// their backward nodes are always recorded (the owner's dispatch of its experts requires grad), so
// backward matches too. The exchanges use a communicator of their own (Communicator::duplicate),
// independent of the gradient all-reduces in flight on the data-parallel one.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "moe/experts.h"
#include "nn/dit.h"

namespace promoe::moe {

// Where the experts of one bank live: bank indices [0, routed) are routed experts, rank r holding
// [r·per_rank, (r+1)·per_rank); indices from `routed` on (ProMoE's unconditional expert) are on
// every rank.
struct ExpertPlacement {
  std::shared_ptr<dist::Communicator> comm;
  int64_t routed = 0, per_rank = 0;
  // Bytes of rows this rank sent to other ranks in forward exchanges (backward sends as many
  // again when it runs); a running count for reports.
  mutable int64_t bytes_sent = 0;

  int owner(int64_t expert) const { return int(expert / per_rank); }
  int64_t first() const { return int64_t(comm->rank()) * per_rank; }
  bool holds(int64_t expert) const { return expert >= routed || owner(expert) == comm->rank(); }
};

// Rows of x (n, ...) to the ranks of `comm`, differentiably: the first send_counts[0] rows to rank
// 0, the next to rank 1, ...; returns the rows received, in rank order, and their counts in
// recv_counts. Backward sends the gradient rows back along the same counts.
Tensor exchange_rows(const Tensor& x, const std::vector<int64_t>& send_counts, std::vector<int64_t>& recv_counts,
                     const std::shared_ptr<dist::Communicator>& comm);

// run_experts of a sharded bank: on every rank, the same rows run_experts of the whole bank gives
// for that rank's tokens (U (T, D), the assignments naming bank indices). Called by every rank.
Tensor run_experts_sharded(const Tensor& U, const Assignments& a, const ExpertList& experts,
                           const std::shared_ptr<nn::Mlp>& shared);

// Splits the routed experts of every MoE layer of `model` over the ranks of `comm` (collective
// only in that every rank must do the same). Each layer's routed expert count must divide among
// the ranks; otherwise promoe::Error naming the layer.
void shard_experts(nn::DiT& model, const std::shared_ptr<dist::Communicator>& comm);

// A parameter of a routed expert that this rank alone holds.
struct ShardedParameter {
  std::string name;  // its name in the model, with the expert's bank index
  Tensor tensor;
  int64_t block = 0;     // the MoE block it belongs to
  int64_t expert = 0;    // bank index
  int64_t per_rank = 0;  // routed experts per rank in that bank
};
// The rank-local parameters of a sharded model, in the order of named_parameters().
std::vector<ShardedParameter> sharded_parameters(const nn::DiT& model);

// The sum of bytes_sent over the sharded banks of `model`.
int64_t expert_exchange_bytes(const nn::DiT& model);

// `key` (a name holding ".experts.<from>.") with the expert index replaced by `to`.
std::string with_expert_index(const std::string& key, int64_t from, int64_t to);

}  // namespace promoe::moe
