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
  void grouped_matmul(const std::vector<Tensor>& outs, const std::vector<Tensor>& as,
                      const std::vector<Tensor>& bs) override;

  void softmax(const Tensor& out, const Tensor& a, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) override;
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) override;
  void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a, const Tensor& mean,
                           const Tensor& rstd) override;
  void layer_norm_modulate(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                           const Tensor& shift, const Tensor& scale, double eps) override;
  void layer_norm_modulate_backward(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                    const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                    const Tensor& scale) override;
  void gated_add(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y) override;
  void gated_add_backward(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                          const Tensor& gate) override;
  void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                 double scale) override;
  void attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          double scale) override;
  void bias_gelu(const Tensor& out, const Tensor& pre, const Tensor& bias) override;
  void bias_gelu_backward(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre) override;
  void cosine_scores(const Tensor& z, const Tensor& rnorm, const Tensor& x, const Tensor& q, double eps) override;
  void cosine_scores_backward(const Tensor& gx, const Tensor& gz_scaled, const Tensor& gz, const Tensor& z,
                              const Tensor& x, const Tensor& q, const Tensor& rnorm, double eps) override;
  void grouped_linear(const std::vector<Tensor>& outs, const std::vector<Tensor>& gelus, const std::vector<Tensor>& as,
                      const std::vector<Tensor>& bs, const std::vector<Tensor>& biases) override;
  void grouped_bias_gelu_backward(const std::vector<Tensor>& grad_pres, const std::vector<Tensor>& grad_biases,
                                  const std::vector<Tensor>& gs, const std::vector<Tensor>& pres) override;

  void index_select(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& a, bool descending) override;

  void uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;

  void adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
             double beta2, double eps, double weight_decay, int64_t step, double grad_scale) override;
  void adamw_group(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& ms,
                   const std::vector<Tensor>& vs, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int64_t step, double grad_scale) override;
  double sum_of_squares(const std::vector<Tensor>& ts) override;
  void ema_group(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) override;

 private:
  std::atomic<size_t> current_{0}, peak_{0};
};

CpuBackend& cpu_backend();

}  // namespace promoe
