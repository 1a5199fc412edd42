// The backend boundary: the short list of primitive kernels a device must provide (30 methods:
// memory, conversion, elementwise, reductions, matmul, softmax and LayerNorm rows, indexing,
// sort/top-k, RNG), with no model concept. The CPU backend (cpu/) is the readable reference; the
// CUDA backend (cuda/) implements the same list. Fused operations (adaLN, attention, expert
// layers, optimizer updates) are not here: they are FusedOps (tensor/fused.h), declared by the
// layer that owns them with a composed reference, with fast kernels registered beside them.
// Ops in tensor/ops.h check arguments, allocate outputs and call these.
//
// Conventions for every kernel:
// - Tensors are views: they honour shape, element strides and offset unless a comment says
//   "contiguous", in which case tensor/ops.cpp guarantees it before the call.
// - `out` is already allocated with the right shape and dtype, on this backend's device.
// - Broadcast inputs arrive expanded to the output shape (stride 0 on broadcast dims).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/op_kinds.h"
#include "tensor/tensor.h"

namespace promoe {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Memory.
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual size_t current_bytes() const = 0;
  virtual size_t peak_bytes() const = 0;
  virtual void reset_peak() = 0;

  // Elementwise. `copy` converts between any two dtypes (f32/f64/i64/bf16).
  virtual void copy(const Tensor& out, const Tensor& a) = 0;
  virtual void fill(const Tensor& out, double value) = 0;
  virtual void arange(const Tensor& out, double start, double step) = 0;  // contiguous out
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) = 0;
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;

  // Reductions. `a` is arranged as (kept dims..., reduced dims...) with `n_reduced` trailing dims;
  // `out` is contiguous with numel = product of the kept dims.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& a, int64_t n_reduced) = 0;
  // Max or Min over the last dim of `a`: values (a.dtype) and indices (i64), both contiguous.
  virtual void arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& a) = 0;

  // Batched matrix product out[b] = alpha * a[b] @ b[b] + beta * out[b] with 3-D views
  // a (Bt, M, K), b (Bt, K, N), out (Bt, M, N). A view with unit stride in its last or its
  // second-to-last dim is used in place (transposes cost nothing); batch strides may be 0.
  virtual void matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) = 0;
  // out (batch..., M, N) = alpha * a (batch..., M, K) @ b (batch..., K, N) over any number of batch
  // dims of equal shape, with any batch strides (0 where broadcast; not in out). The default (in
  // tensor/ops_matmul.cpp) folds what batch dims it can into one stride and calls matmul() per
  // leading index; a backend may override it to run all products in one launch.
  virtual void batched_matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha = 1.0);

  // Row-wise over the last dim of contiguous tensors.
  virtual void softmax(const Tensor& out, const Tensor& a, bool log) = 0;
  // grad_in = softmax'(out) applied to grad_out (log: log-softmax).
  virtual void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) = 0;
  // LayerNorm without affine over the last dim: out = (a - mean) * rstd; mean, rstd are (rows).
  virtual void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) = 0;
  // grad_in from grad_out of the normalised output: rstd * (g - mean(g) - xhat * mean(g * xhat)).
  virtual void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a, const Tensor& mean,
                                   const Tensor& rstd) = 0;

  // Indexing along `dim` with an i64 index vector / index tensor (contiguous index).
  virtual void index_select(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) = 0;
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  virtual void gather(const Tensor& out, const Tensor& a, int64_t dim, const Tensor& index) = 0;
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;

  // Along the last dim of a contiguous `a`; results contiguous, sorted in the requested order,
  // ties broken by the lower index first.
  virtual void topk(const Tensor& values, const Tensor& indices, const Tensor& a, int64_t k, bool largest) = 0;
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& a, bool descending) = 0;

  // Counter-based random numbers: element i of a contiguous `out` takes draw i of the Philox
  // stream (seed, offset), so results do not depend on the device or thread count.
  virtual void uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) = 0;
  virtual void normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) = 0;
};

// The backend that owns `device`'s memory; throws if that device is not built or not present.
Backend& backend_for(Device device);
bool cuda_available();

// Called once per backend by its own library (cpu/cpu_backend.cpp, cuda/backend.cpp) from a static
// initializer: `factory` returns the backend, `available` says whether its device is present.
// Returns true, so that a registration can initialise a constant.
bool register_backend(DeviceType type, Backend* (*factory)(), bool (*available)());

}  // namespace promoe
