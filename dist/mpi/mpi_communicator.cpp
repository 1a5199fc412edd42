// MPI collectives on host tensors.
#include "dist/mpi/mpi_communicator.h"

#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "dist/single_process.h"
#include "tensor/ops.h"

namespace promoe::dist {

namespace {

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::F64:
      return MPI_DOUBLE;
    case DType::I64:
      return MPI_INT64_T;
    default:
      PROMOE_FAIL("dist: mpi: no MPI type for ", dtype_name(d));
  }
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Sum ? MPI_SUM : MPI_MAX; }

void check_host(const Tensor& t, const char* op) {
  check_collective_tensor(t, op);
  PROMOE_CHECK(t.device().type == DeviceType::CPU, "dist: mpi: ", op, " of a tensor on ", t.device().str(),
               " (the MPI communicator takes host tensors; GPU tensors go through NCCL)");
}

// MPI counts are ints: a reduction of more elements runs in chunks of this many.
constexpr int64_t kChunk = int64_t(1) << 30;

// A row of `t` (all dims but the first) as one MPI datatype, so that counts count rows.
struct RowType {
  explicit RowType(const Tensor& t) {
    int64_t elements = 1;  // of a row: from the shape, so that a tensor of no rows has rows of the same type
    for (int64_t d = 1; d < t.dim(); ++d) elements *= t.size(d);
    const int64_t bytes = elements * int64_t(dtype_size(t.dtype()));
    PROMOE_CHECK(bytes <= INT_MAX, "dist: mpi: rows of ", bytes, " bytes are too long for MPI");
    MPI_Type_contiguous(int(bytes), MPI_BYTE, &type);
    MPI_Type_commit(&type);
  }
  ~RowType() { MPI_Type_free(&type); }
  RowType(const RowType&) = delete;
  RowType& operator=(const RowType&) = delete;
  MPI_Datatype type;
};

int checked_int(int64_t v, const char* what) {
  PROMOE_CHECK(v >= 0 && v <= INT_MAX, "dist: mpi: ", what, " ", v, " does not fit MPI's int counts");
  return int(v);
}

struct MpiWork final : Work {
  std::vector<MPI_Request> requests;
  Tensor keep;  // the tensor the reduction writes into, alive until it is done
  void wait() override {
    if (!requests.empty()) MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    requests.clear();
  }
  bool test() override {
    if (requests.empty()) return true;
    int done = 0;
    MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (done) requests.clear();
    return done != 0;
  }
  ~MpiWork() override { wait(); }
};

class MpiCommunicator final : public Communicator {
 public:
  // The communicator of every process (MPI_COMM_WORLD), initialising MPI on first use.
  MpiCommunicator() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit([] {
        int finalised = 0;
        MPI_Finalized(&finalised);
        if (!finalised) MPI_Finalize();
      });
    }
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  // A duplicate of `comm` (collective: every rank calls it).
  explicit MpiCommunicator(MPI_Comm comm) {
    MPI_Comm_dup(comm, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (comm_ != MPI_COMM_WORLD && !finalised) MPI_Comm_free(&comm_);
  }
  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce(Tensor& t, ReduceOp op) override { all_reduce_async(t, op)->wait(); }

  std::unique_ptr<Work> all_reduce_async(Tensor t, ReduceOp op) override {
    check_host(t, "all_reduce");
    auto work = std::make_unique<MpiWork>();
    char* p = static_cast<char*>(t.raw_data());
    const int64_t esize = int64_t(dtype_size(t.dtype()));
    for (int64_t at = 0; at < t.numel(); at += kChunk) {
      const int n = int(std::min(kChunk, t.numel() - at));
      work->requests.emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, p + at * esize, n, mpi_type(t.dtype()), mpi_op(op), comm_, &work->requests.back());
    }
    work->keep = std::move(t);
    return work;
  }

  void broadcast(Tensor& t, int root) override {
    check_host(t, "broadcast");
    PROMOE_CHECK(root >= 0 && root < size_, "dist: broadcast from rank ", root, " of ", size_);
    char* p = static_cast<char*>(t.raw_data());
    const int64_t bytes = t.numel() * int64_t(dtype_size(t.dtype()));
    for (int64_t at = 0; at < bytes; at += kChunk)
      MPI_Bcast(p + at, int(std::min(kChunk, bytes - at)), MPI_BYTE, root, comm_);
  }

  Tensor all_gather(const Tensor& t) override {
    check_host(t, "all_gather");
    Tensor rows = t.dim() == 0 ? raw::reshape(t, {1}) : t;
    Shape shape = rows.shape();
    shape[0] *= size_;
    Tensor out = Tensor::empty(shape, t.dtype(), Device::cpu());
    RowType row(rows);
    const int n = checked_int(rows.size(0), "all_gather rows");
    MPI_Allgather(rows.raw_data(), n, row.type, out.raw_data(), n, row.type, comm_);
    return out;
  }

  Tensor all_to_all(const Tensor& send, const std::vector<int64_t>& send_counts,
                    std::vector<int64_t>* recv_counts) override {
    check_send_counts(send, send_counts, size_);
    check_host(send, "all_to_all");
    std::vector<int64_t> recv(size_);
    MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv.data(), 1, MPI_INT64_T, comm_);
    std::vector<int> sc(size_), sd(size_), rc(size_), rd(size_);
    int64_t s_at = 0, r_at = 0;
    for (int r = 0; r < size_; ++r) {
      sc[r] = checked_int(send_counts[r], "all_to_all count");
      rc[r] = checked_int(recv[r], "all_to_all count");
      sd[r] = checked_int(s_at, "all_to_all offset");
      rd[r] = checked_int(r_at, "all_to_all offset");
      s_at += send_counts[r];
      r_at += recv[r];
    }
    Shape shape = send.shape();
    shape[0] = r_at;
    Tensor out = Tensor::empty(shape, send.dtype(), Device::cpu());
    RowType row(send);
    MPI_Alltoallv(send.raw_data(), sc.data(), sd.data(), row.type, out.raw_data(), rc.data(), rd.data(), row.type,
                  comm_);
    if (recv_counts) *recv_counts = recv;
    return out;
  }

  void barrier() override { MPI_Barrier(comm_); }
  std::unique_ptr<Communicator> duplicate() override { return std::make_unique<MpiCommunicator>(comm_); }

 protected:
  void abort_job(int code) override { MPI_Abort(MPI_COMM_WORLD, code); }

 private:
  MPI_Comm comm_ = MPI_COMM_WORLD;
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiCommunicator>(); }

}  // namespace promoe::dist
