// The one-process communicator.
#include "dist/single_process.h"

#include "tensor/ops.h"

namespace promoe::dist {

namespace {
struct DoneWork final : Work {
  void wait() override {}
  bool test() override { return true; }
};
}  // namespace

void check_collective_tensor(const Tensor& t, const char* op) {
  PROMOE_CHECK(t.defined(), "dist: ", op, " of an undefined tensor");
  PROMOE_CHECK(t.is_contiguous(), "dist: ", op, " needs a contiguous tensor, got ", describe(t));
  PROMOE_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64 || t.dtype() == DType::I64, "dist: ", op,
               " supports f32, f64 and i64 tensors, got ", describe(t));
}

void check_send_counts(const Tensor& send, const std::vector<int64_t>& send_counts, int size) {
  check_collective_tensor(send, "all_to_all");
  PROMOE_CHECK(send.dim() >= 1, "dist: all_to_all needs rows to send, got ", describe(send));
  PROMOE_CHECK(int64_t(send_counts.size()) == size, "dist: all_to_all needs ", size, " send counts, got ",
               send_counts.size());
  int64_t total = 0;
  for (int64_t c : send_counts) {
    PROMOE_CHECK(c >= 0, "dist: all_to_all: negative send count ", c);
    total += c;
  }
  PROMOE_CHECK(total == send.size(0), "dist: all_to_all: send counts sum to ", total, " but send has ", send.size(0),
               " rows");
}

void SingleProcess::all_reduce(Tensor& t, ReduceOp) { check_collective_tensor(t, "all_reduce"); }

std::unique_ptr<Work> SingleProcess::all_reduce_async(Tensor t, ReduceOp op) {
  all_reduce(t, op);
  return std::make_unique<DoneWork>();
}

void SingleProcess::broadcast(Tensor& t, int root) {
  check_collective_tensor(t, "broadcast");
  PROMOE_CHECK(root == 0, "dist: broadcast from rank ", root, " of a 1-process job");
}

Tensor SingleProcess::all_gather(const Tensor& t) {
  check_collective_tensor(t, "all_gather");
  return t.dim() == 0 ? raw::reshape(raw::clone(t), {1}) : raw::clone(t);
}

Tensor SingleProcess::all_to_all(const Tensor& send, const std::vector<int64_t>& send_counts,
                                 std::vector<int64_t>* recv_counts) {
  check_send_counts(send, send_counts, 1);
  if (recv_counts) *recv_counts = send_counts;
  return raw::clone(send);
}

}  // namespace promoe::dist
