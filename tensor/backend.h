// The backend boundary: the short list of primitive kernels a device must provide. The CPU backend
// (cpu/) is the readable reference; the CUDA backend (cuda/) implements the same list. Nothing above
// tensor/ sees a backend: ops in tensor/ops.h check arguments, allocate outputs and call these.
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

#include "tensor/tensor.h"

namespace promoe {

enum class UnaryOp {
  Neg,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Tanh,
  Sigmoid,
  Silu,
  GeluTanh,
  Sin,
  Cos,
  Abs,
  Relu,
  Sign,
  Square,
  Reciprocal,
  PowScalar,  // a^p0
  Affine,     // a*p0 + p1
  Clamp,      // min(max(a, p0), p1)
};

enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,  // 1 or 0 in the output dtype
  // Fused derivative kernels: (x, g) -> g * f'(x), or (y, g) for functions of their output.
  GeluTanhBackward,
  SiluBackward,
  SigmoidBackwardFromOutput,
  TanhBackwardFromOutput,
};

enum class ReduceOp { Sum, Mean, Max, Min };

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
  // Independent products outs[i] = as[i] @ bs[i] of 2-D views (laid out as matmul() takes them),
  // e.g. one per expert. The default (tensor/ops_matmul.cpp) runs them one after another; the CPU
  // backend shares them out over its threads, each product single-threaded.
  virtual void grouped_matmul(const std::vector<Tensor>& outs, const std::vector<Tensor>& as,
                              const std::vector<Tensor>& bs);

  // Row-wise over the last dim of contiguous tensors.
  virtual void softmax(const Tensor& out, const Tensor& a, bool log) = 0;
  // grad_in = softmax'(out) applied to grad_out (log: log-softmax).
  virtual void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) = 0;
  // LayerNorm without affine over the last dim: out = (a - mean) * rstd; mean, rstd are (rows).
  virtual void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) = 0;
  // grad_in from grad_out of the normalised output: rstd * (g - mean(g) - xhat * mean(g * xhat)).
  virtual void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a, const Tensor& mean,
                                   const Tensor& rstd) = 0;

  // adaLN-Zero conditioning of a contiguous x (B, N, D) by contiguous per-image vectors (B, D).
  // The defaults (tensor/backend_fused.cpp) compose the primitives above; a backend may fuse them.
  // out = LayerNorm(x) * (1 + scale) + shift, with mean, rstd (B, N) as layer_norm writes them.
  virtual void layer_norm_modulate(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                   const Tensor& shift, const Tensor& scale, double eps);
  // From g = d/d out: grad_x, grad_shift = sum_n g, grad_scale = sum_n g * xhat.
  virtual void layer_norm_modulate_backward(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                            const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                            const Tensor& scale);
  // out = x + gate * y (the gated residual); all (B, N, D) but gate (B, D).
  virtual void gated_add(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y);
  // From g = d/d out: grad_y = g * gate, grad_gate = sum_n g * y (grad_x is g itself).
  virtual void gated_add_backward(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                                  const Tensor& gate);

  // The bias and GELU(tanh) after an MLP's first GEMM, on contiguous pre (rows, n) and bias (n):
  // pre += bias in place (kept for backward), out = gelu_tanh(pre). Default composed as above.
  virtual void bias_gelu(const Tensor& out, const Tensor& pre, const Tensor& bias);
  // grad_pre = g * gelu_tanh'(pre); grad_bias (n) = column sums of grad_pre.
  virtual void bias_gelu_backward(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre);
  // Cosine scores of contiguous x (T, D) against unit-norm prototypes q (E, D): rnorm (T) =
  // 1 / max(|x_t|, eps), z (T, E) = (x_t . q_e) * rnorm_t. The default composes primitives; the CPU
  // backend makes one pass over x.
  virtual void cosine_scores(const Tensor& z, const Tensor& rnorm, const Tensor& x, const Tensor& q, double eps);
  // From gz = d/dz: gz_scaled (T, E) = gz * rnorm (the prototypes' gradient is gz_scaled^T x) and
  // gx (T, D) = gz_scaled @ q - x * rnorm^2 * sum_e gz * z where |x_t| > eps (0 where clamped).
  virtual void cosine_scores_backward(const Tensor& gx, const Tensor& gz_scaled, const Tensor& gz, const Tensor& z,
                                      const Tensor& x, const Tensor& q, const Tensor& rnorm, double eps);
  // A bank of linear layers, one per group (an expert's segment of rows): outs[i] = as[i] @ bs[i]
  // + biases[i] (bias (n) over the rows). With `gelus` given (one per group, else empty), the
  // layer is an MLP's first: outs[i] keep the pre-activations and gelus[i] = gelu_tanh(outs[i]), as
  // bias_gelu writes them. outs and gelus are contiguous, every group has rows. The default
  // (tensor/backend_fused.cpp) is grouped_matmul, then bias_gelu or a bias add per group; the CPU
  // backend runs each group's epilogue right after its product, on the same thread.
  virtual void grouped_linear(const std::vector<Tensor>& outs, const std::vector<Tensor>& gelus,
                              const std::vector<Tensor>& as, const std::vector<Tensor>& bs,
                              const std::vector<Tensor>& biases);
  // bias_gelu_backward of each group, contiguous operands.
  virtual void grouped_bias_gelu_backward(const std::vector<Tensor>& grad_pres, const std::vector<Tensor>& grad_biases,
                                          const std::vector<Tensor>& gs, const std::vector<Tensor>& pres);

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

  // Fused AdamW update on contiguous float tensors of equal shape (PyTorch semantics), with the
  // gradient read as grad * grad_scale (gradient clipping folded into the step).
  virtual void adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                     double beta2, double eps, double weight_decay, int64_t step, double grad_scale) = 0;
  // Multi-head attention core on head-split views q, k, v (B, H, N, hd) whose rows have unit
  // stride (any other strides): out (B, H, N, hd), a view of the same kind, = P @ v with
  // P = softmax(scale * q k^T) over the last dim, and lse (B, H, N) contiguous = the rows'
  // log-sum-exp of scale * q k^T, all backward needs to rebuild P (no N x N tensor is kept). The
  // default (tensor/backend_fused.cpp) is batched GEMMs and a softmax; a backend may fuse it.
  virtual void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         double scale);
  // From go = d/d out (same kind of view as out, which is passed too): gq, gk, gv, views of the
  // same kind, written in full.
  virtual void attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go,
                                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, double scale);
  // One AdamW step over many parameters at once (an optimizer's whole list): slot i updates
  // params[i] from grads[i] with moments ms[i], vs[i], as adamw() does. The default
  // (tensor/backend_fused.cpp) calls adamw() per slot; the CPU backend runs all of them in one
  // parallel pass, so a model of many small tensors (a bank of experts) does not pay a parallel
  // region or a serial loop per tensor.
  virtual void adamw_group(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                           const std::vector<Tensor>& ms, const std::vector<Tensor>& vs, double lr, double beta1,
                           double beta2, double eps, double weight_decay, int64_t step, double grad_scale);
  // Sum of the squares of every element of the contiguous float tensors `ts` (a global gradient
  // norm squared), accumulated in double. The default (tensor/backend_fused.cpp) is one reduction
  // per tensor; a backend may do all of them in one pass.
  virtual double sum_of_squares(const std::vector<Tensor>& ts);
  // An exponential moving average of weights: shadows[i] = decay * shadows[i] + (1 - decay) *
  // params[i] for contiguous float tensors of equal shapes. The default (tensor/backend_fused.cpp)
  // composes it per tensor; the CPU backend makes one pass over the list.
  virtual void ema_group(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay);
};

// The backend that owns `device`'s memory; throws if that device is not built or not present.
Backend& backend_for(Device device);
bool cuda_available();

// Called once per backend by its own library (cpu/cpu_backend.cpp, cuda/backend.cpp) from a static
// initializer: `factory` returns the backend, `available` says whether its device is present.
// Returns true, so that a registration can initialise a constant.
bool register_backend(DeviceType type, Backend* (*factory)(), bool (*available)());

}  // namespace promoe
