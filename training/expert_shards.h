// Checkpoints under expert parallelism (moe/expert_parallel.h): each rank holds only its routed
// experts, so the tensors of a checkpoint (weights, EMA, AdamW moments) are gathered from every
// rank into the one layout a model holding every expert writes: the same names in the same order.
// Any rank count then resumes from the file (each rank loading the experts it holds).
#pragma once
#include <vector>

#include "dist/communicator.h"
#include "io/safetensors.h"
#include "moe/expert_parallel.h"

namespace promoe::training {

// `local`: this rank's checkpoint_tensors (training/checkpoint.h); `sharded`: its rank-local
// parameters (moe::sharded_parameters). Collective over `comm` (one all-gather); returns the whole
// list on every rank, in host memory.
io::NamedTensors gather_expert_shards(const io::NamedTensors& local, const std::vector<moe::ShardedParameter>& sharded,
                                      dist::Communicator& comm);

}  // namespace promoe::training
