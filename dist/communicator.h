// The communicator: the collective operations data-parallel training needs, over the ranks of one
// job. Implementations: a single process (size 1, every collective a copy; always built), MPI for
// tensors in host memory (dist/mpi, built where CMake finds MPI) and NCCL for tensors on a CUDA
// device (dist/nccl, built where CUDA and NCCL are found; its id travels over MPI).
//
// Every rank calls the same collectives in the same order with tensors of the same shape and
// dtype (all-to-all: counts agreed as described there); a mismatch is a programming error the
// implementations do not detect. Tensors must be contiguous.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::dist {

enum class ReduceOp { Sum, Max };

// A collective in flight. wait() returns once its output tensor holds the result; test() asks
// without blocking (and lets the implementation make progress). Destroying a Work that was not
// waited for waits.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool test() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;  // "single", "mpi", "nccl"
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: t becomes the element-wise reduction of every rank's t (f32, f64, i64).
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // Starts the same reduction and returns at once; t must stay alive and untouched until wait().
  virtual std::unique_ptr<Work> all_reduce_async(Tensor t, ReduceOp op = ReduceOp::Sum) = 0;
  // In place: every rank's t becomes root's t.
  virtual void broadcast(Tensor& t, int root) = 0;
  // Rank r's t (any shape) becomes rows r·n .. (r+1)·n−1 of the result (size·n, ...) where
  // t is (n, ...); a 0-d t gives (size).
  virtual Tensor all_gather(const Tensor& t) = 0;
  // Rows of `send` (n, ...) go out in rank order: the first send_counts[0] rows to rank 0, the
  // next send_counts[1] to rank 1, ... (send_counts sums to n). Returns the rows received, in rank
  // order, (sum of recv_counts, ...), and writes recv_counts (exchanged first, so callers need not
  // know them).
  virtual Tensor all_to_all(const Tensor& send, const std::vector<int64_t>& send_counts,
                            std::vector<int64_t>* recv_counts) = 0;
  virtual void barrier() = 0;
  // A communicator over the same ranks whose collectives are independent of this one's (MPI:
  // MPI_Comm_dup), so that two streams of collectives (the gradient buckets in flight during
  // backward and expert parallelism's all-to-alls) never have to be issued in one order.
  virtual std::unique_ptr<Communicator> duplicate() = 0;
  // Ends every process of the job with exit status `code` (stdout and stderr flushed first).
  [[noreturn]] void abort(int code) {
    std::fflush(stdout);
    std::fflush(stderr);
    abort_job(code);
    std::_Exit(code);
  }

 protected:
  virtual void abort_job(int code) = 0;
};

// The job's communicator for host tensors: MPI when this process was started by an MPI launcher
// (mpirun sets OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_SIZE) and MPI is built in, else a single
// process. Created on first use; a launcher present without MPI built in is an error.
Communicator& world();
// True when world() runs on more than one process; does not create it.
bool launched_by_mpi();

// The communicator for tensors on `device`: world() for the CPU, NCCL over world()'s ranks for
// CUDA (an error where NCCL is not built in and world().size() > 1).
Communicator& for_device(Device device);

// Rank 0 of world() (the rank that writes files and logs).
inline bool is_root() { return world().rank() == 0; }

}  // namespace promoe::dist
