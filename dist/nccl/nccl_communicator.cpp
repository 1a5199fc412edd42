// NCCL collectives on CUDA tensors.
#include "dist/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dist/single_process.h"

namespace promoe::dist {

namespace {

void check_cuda(cudaError_t e, const char* what) {
  PROMOE_CHECK(e == cudaSuccess, "dist: nccl: ", what, ": ", cudaGetErrorString(e));
}
void check_nccl(ncclResult_t r, const char* what) {
  PROMOE_CHECK(r == ncclSuccess, "dist: nccl: ", what, ": ", ncclGetErrorString(r));
}

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::F32:
      return ncclFloat32;
    case DType::F64:
      return ncclFloat64;
    case DType::I64:
      return ncclInt64;
    default:
      PROMOE_FAIL("dist: nccl: no NCCL type for ", dtype_name(d));
  }
}

void check_device(const Tensor& t, const char* op) {
  check_collective_tensor(t, op);
  PROMOE_CHECK(t.device().type == DeviceType::CUDA, "dist: nccl: ", op, " of a tensor on ", t.device().str(),
               " (host tensors go through MPI)");
}

struct NcclWork final : Work {
  cudaEvent_t done = nullptr;
  Tensor keep;
  void wait() override {
    if (!done) return;
    check_cuda(cudaEventSynchronize(done), "wait");
    cudaEventDestroy(done);
    done = nullptr;
  }
  bool test() override {
    if (!done) return true;
    if (cudaEventQuery(done) != cudaSuccess) return false;
    wait();
    return true;
  }
  ~NcclWork() override {
    if (!done) return;
    cudaEventSynchronize(done);
    cudaEventDestroy(done);
  }
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& host, Device device) : host_(host), device_(device) {
    int devices = 0;
    check_cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    PROMOE_CHECK(devices > 0, "dist: nccl: no CUDA device");
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    check_cuda(cudaSetDevice((local ? std::atoi(local) : 0) % devices), "cudaSetDevice");
    ncclUniqueId id;
    if (host.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    // The id is 128 opaque bytes; it travels in an i64 tensor of at least as many bytes.
    Tensor bytes = Tensor::empty({int64_t((sizeof(id) + 7) / 8)}, DType::I64, Device::cpu());
    if (host.rank() == 0) std::memcpy(bytes.raw_data(), &id, sizeof(id));
    host.broadcast(bytes, 0);
    std::memcpy(&id, bytes.raw_data(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, host.size(), id, host.rank()), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  // Over a host communicator of its own (duplicate()).
  NcclCommunicator(std::unique_ptr<Communicator> host, Device device) : NcclCommunicator(*host, device) {
    own_host_ = std::move(host);
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  std::string name() const override { return "nccl"; }
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }

  void all_reduce(Tensor& t, ReduceOp op) override { all_reduce_async(t, op)->wait(); }

  std::unique_ptr<Work> all_reduce_async(Tensor t, ReduceOp op) override {
    check_device(t, "all_reduce");
    after_queued_work();
    check_nccl(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()),
                             op == ReduceOp::Sum ? ncclSum : ncclMax, comm_, stream_),
               "ncclAllReduce");
    return recorded(std::move(t));
  }

  void broadcast(Tensor& t, int root) override {
    check_device(t, "broadcast");
    after_queued_work();
    check_nccl(ncclBroadcast(t.raw_data(), t.raw_data(), size_t(t.numel()) * dtype_size(t.dtype()), ncclUint8, root,
                             comm_, stream_),
               "ncclBroadcast");
    recorded(t)->wait();
  }

  Tensor all_gather(const Tensor& t) override {
    check_device(t, "all_gather");
    Shape shape = t.dim() == 0 ? Shape{1} : t.shape();
    shape[0] *= size();
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    after_queued_work();
    check_nccl(ncclAllGather(t.raw_data(), out.raw_data(), size_t(t.numel()) * dtype_size(t.dtype()), ncclUint8, comm_,
                             stream_),
               "ncclAllGather");
    recorded(out)->wait();
    return out;
  }

  Tensor all_to_all(const Tensor& send, const std::vector<int64_t>& send_counts,
                    std::vector<int64_t>* recv_counts) override {
    check_send_counts(send, send_counts, size());
    check_device(send, "all_to_all");
    // The counts are small and on the host: exchanged over the host communicator.
    Tensor counts = Tensor::empty({int64_t(size())}, DType::I64, Device::cpu());
    std::memcpy(counts.raw_data(), send_counts.data(), send_counts.size() * sizeof(int64_t));
    Tensor all = host_.all_gather(counts);  // (size * size): row r holds rank r's send counts
    const int64_t* a = all.data<int64_t>();
    std::vector<int64_t> recv(size());
    for (int r = 0; r < size(); ++r) recv[r] = a[int64_t(r) * size() + rank()];
    size_t row_bytes = dtype_size(send.dtype());  // from the shape: a rank sending no rows still receives
    for (int64_t d = 1; d < send.dim(); ++d) row_bytes *= size_t(send.size(d));
    int64_t total = 0;
    for (int64_t c : recv) total += c;
    Shape shape = send.shape();
    shape[0] = total;
    Tensor out = Tensor::empty(shape, send.dtype(), send.device());
    after_queued_work();
    const char* s = static_cast<const char*>(send.raw_data());
    char* o = static_cast<char*>(out.raw_data());
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    size_t s_at = 0, r_at = 0;
    for (int r = 0; r < size(); ++r) {
      check_nccl(ncclSend(s + s_at, size_t(send_counts[r]) * row_bytes, ncclUint8, r, comm_, stream_), "ncclSend");
      check_nccl(ncclRecv(o + r_at, size_t(recv[r]) * row_bytes, ncclUint8, r, comm_, stream_), "ncclRecv");
      s_at += size_t(send_counts[r]) * row_bytes;
      r_at += size_t(recv[r]) * row_bytes;
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
    recorded(out)->wait();
    if (recv_counts) *recv_counts = recv;
    return out;
  }

  void barrier() override { host_.barrier(); }
  // A new NCCL communicator over a duplicate of the host one (its id travels over that duplicate).
  std::unique_ptr<Communicator> duplicate() override {
    return std::make_unique<NcclCommunicator>(host_.duplicate(), device_);
  }

 protected:
  void abort_job(int code) override { host_.abort(code); }

 private:
  // Orders the collective after every kernel already queued on the device, on any stream.
  void after_queued_work() { check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }
  std::unique_ptr<Work> recorded(Tensor keep) {
    auto w = std::make_unique<NcclWork>();
    check_cuda(cudaEventCreateWithFlags(&w->done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(w->done, stream_), "cudaEventRecord");
    w->keep = std::move(keep);
    return w;
  }

  Communicator& host_;
  std::unique_ptr<Communicator> own_host_;  // the host communicator when this one owns it
  Device device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Device device) {
  return std::make_unique<NcclCommunicator>(host, device);
}

}  // namespace promoe::dist
