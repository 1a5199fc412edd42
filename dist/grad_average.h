// Averages parameter gradients over the ranks of a communicator, in buckets reduced while
// backward is still running. The parameters are taken in reverse order (backward reaches the last
// layers first) and packed into buckets of about `bucket_bytes`; as each parameter's gradient
// becomes final (ready(), called from the autograd engine's GradReadyHook) its bucket fills, and
// a full bucket is copied into a flat buffer and its all-reduce started — buckets strictly in
// order, so that every rank starts the same reductions in the same order whatever order its own
// backward finished them in. finish() starts what is left (a parameter no gradient reached, like
// an expert that received no token on this rank, takes part with zeros), waits, and writes the
// average back into every parameter's .grad. A bucket_bytes of 0 puts everything in one bucket:
// one reduction after backward, no overlap.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "dist/communicator.h"

namespace promoe::dist {

class GradientAverager {
 public:
  GradientAverager(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes);

  // The gradient of `param` is final for this step (a tensor that is not one of the parameters is
  // ignored).
  void ready(const Tensor& param);
  // Reduces every bucket not yet started, waits for all, writes the averages into .grad (every
  // parameter then has one) and resets for the next step.
  void finish();

  int64_t buckets() const { return int64_t(buckets_.size()); }
  // Gradient bytes each rank contributes to the reductions of one step.
  int64_t bytes_per_step() const { return bytes_; }
  // Buckets whose reduction was started before finish() in the last step (overlapped with backward).
  int64_t overlapped_last_step() const { return overlapped_; }

 private:
  struct Bucket {
    std::vector<int64_t> members;  // indices into params_
    std::vector<int64_t> offsets;  // element offsets of the members in `flat`
    int64_t numel = 0;
    int64_t pending = 0;  // members not ready yet this step
    Tensor flat;
    std::unique_ptr<Work> work;
  };
  void start(Bucket& b);
  void progress();

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const TensorImpl*, std::pair<int64_t, bool>> where_;  // param -> (bucket, ready)
  size_t next_ = 0;                                                        // the first bucket not started
  int64_t bytes_ = 0, overlapped_ = 0, started_early_ = 0;
};

}  // namespace promoe::dist
