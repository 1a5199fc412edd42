// Data-parallel training over the ranks of the job (dist::world(); one process without an MPI
// launcher). Every rank holds the whole model and optimizer state, takes its share of the global
// batch (rank_shard), runs forward and backward on it, and the gradients are averaged over the
// ranks in buckets reduced during backward (dist::GradientAverager, started from the autograd
// engine's GradReadyHook). With equal shares the average of the ranks' mean-loss gradients is the
// gradient of the global batch's mean loss, so every rank then takes the same optimizer step.
// Rank 0 writes the log, the checkpoints and the reports; every rank reads the checkpoint on resume.
#pragma once
#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "dist/grad_average.h"
#include "nn/dit.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "training/step_draws.h"

namespace promoe::training {

class DataParallel {
 public:
  // bucket_bytes: gradient bytes per reduction (0: one reduction after backward). rank_local: the
  // parameters only this rank holds (its experts under expert parallelism, moe/expert_parallel.h):
  // they are neither broadcast nor all-reduced; their gradients, which already sum the
  // contributions of every rank's tokens, are divided by the rank count as the averages are.
  DataParallel(const NamedTensors& params, Device device, int64_t global_batch, int64_t bucket_bytes,
               const std::vector<Tensor>& rank_local = {});

  int rank() const { return comm_.rank(); }
  int ranks() const { return comm_.size(); }
  bool is_root() const { return comm_.rank() == 0; }
  const BatchShard& shard() const { return shard_; }

  // Copies rank 0's parameters to every rank (a no-op on one).
  void broadcast_parameters();
  // `loss.backward()` with the gradients averaged over the ranks when it returns.
  void backward(const Tensor& loss);
  // grad_clip over the gradients of the whole model: the rank-local ones of every rank count.
  nn::GradClip grad_clip(const NamedTensors& params, double max_norm);
  // The mean over the ranks of each value (every rank gets the same numbers).
  std::vector<double> mean(std::vector<double> values);

  // Sums over the ranks for routing losses over the global batch (--global-routing-losses).
  nn::ReplicaSum& replica_sum() { return sum_; }

  // Gradient bytes each rank sends into the reductions of one step (0 on one rank).
  int64_t gradient_bytes_per_step() const { return averager_ ? averager_->bytes_per_step() : 0; }
  int64_t buckets() const { return averager_ ? averager_->buckets() : 0; }

 private:
  struct RanksSum final : nn::ReplicaSum {
    Tensor sum(const Tensor& t) override;
    int replicas() const override { return dist::world().size(); }
  };
  dist::Communicator& comm_;    // host values (losses, counts)
  dist::Communicator& device_;  // the parameters' device
  std::vector<Tensor> params_;  // replicated: broadcast and averaged
  std::vector<Tensor> local_;   // rank-local
  BatchShard shard_;
  std::unique_ptr<dist::GradientAverager> averager_;
  RanksSum sum_;
};

}  // namespace promoe::training
