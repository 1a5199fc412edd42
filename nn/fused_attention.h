// The fused multi-head attention core (tensor/fused.h) and its backward. Fast kernels:
// cpu/attention.cpp, cuda/attention.cu.
#pragma once
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::nn::fused {

// On head-split views q, k, v (B, H, N, hd) whose rows have unit stride (any other strides): out
// (B, H, N, hd), a view of the same kind, = P @ v with P = softmax(scale * q k^T) over the last
// dim, and lse (B, H, N) contiguous = the rows' log-sum-exp of scale * q k^T, all backward needs to
// rebuild P (no N x N tensor is kept). The reference is batched GEMMs and a softmax.
void attention_reference(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         double scale);
inline const FusedOp<decltype(attention_reference)> attention_op{"nn.attention", &attention_reference};

// From go = d/d out (same kind of view as out, which is passed too): gq, gk, gv, views of the same
// kind, written in full.
void attention_backward_reference(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go,
                                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, double scale);
inline const FusedOp<decltype(attention_backward_reference)> attention_backward_op{"nn.attention_backward",
                                                                                   &attention_backward_reference};

// Checked entry points. attention_into writes softmax(scale q k^T) v into the view `out`
// (B, H, N, hd) and returns the rows' log-sum-exp (B, H, N).
Tensor attention_into(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, double scale);
// Writes the gradients of q, k, v into the views gq, gk, gv from go = d/d out.
void attention_backward_into(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go, const Tensor& q,
                             const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, double scale);

}  // namespace promoe::nn::fused
