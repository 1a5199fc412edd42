// The CPU backend: the readable reference implementation of every primitive in tensor/backend.h.
// Matrix products use Eigen; loops are parallelised with OpenMP.
#pragma once
#include <atomic>

#include "tensor/backend.h"

namespace promoe {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  size_t current_bytes() const override { return current_; }
  size_t peak_bytes() const override { return peak_; }
  void reset_peak() override { peak_ = current_.load(); }
  // Freed blocks of 1 MiB and more are cached for reuse (not counted in current_bytes).
  size_t cached_bytes() const;
  void empty_cache();

  void copy(const Tensor& out, const Tensor& a) override;
  void fill(const Tensor& out, double value) override;
  void arange(const Tensor& out, double start, double step) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;

  void reduce(ReduceOp op, const Tensor& out, const Tensor& a, int64_t n_reduced) override;
  void arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& a) override;

  void matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) override;
  void batched_matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha = 1.0) override;

  void softmax(const Tensor& out, const Tensor& a, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) override;
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) override;
  void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a, const Tensor& mean,
                           const Tensor& rstd) override;

  void index_select(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& a, bool descending) override;

  void uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;

 private:
  std::atomic<size_t> current_{0}, peak_{0};
};

CpuBackend& cpu_backend();

}  // namespace promoe
