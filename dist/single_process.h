// The communicator of a job of one process: every collective leaves its input as it is (a
// reduction over one rank), all-gather and all-to-all return copies.
#pragma once
#include "dist/communicator.h"

namespace promoe::dist {

class SingleProcess final : public Communicator {
 public:
  std::string name() const override { return "single"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce(Tensor& t, ReduceOp op) override;
  std::unique_ptr<Work> all_reduce_async(Tensor t, ReduceOp op) override;
  void broadcast(Tensor& t, int root) override;
  Tensor all_gather(const Tensor& t) override;
  Tensor all_to_all(const Tensor& send, const std::vector<int64_t>& send_counts,
                    std::vector<int64_t>* recv_counts) override;
  void barrier() override {}
  std::unique_ptr<Communicator> duplicate() override { return std::make_unique<SingleProcess>(); }

 protected:
  void abort_job(int) override {}  // the caller's _Exit ends the only process
};

// The checks every implementation makes on a collective's tensor: defined and contiguous, and of
// a dtype the reductions support (f32, f64, i64).
void check_collective_tensor(const Tensor& t, const char* op);
// The checks of all-to-all's counts: `size` non-negative counts summing to send's rows.
void check_send_counts(const Tensor& send, const std::vector<int64_t>& send_counts, int size);

}  // namespace promoe::dist
