// The grouped ops of an expert bank over row groups (tensor/fused.h): independent products, a
// bank of linear layers with their bias (+ GELU) epilogue, and the grouped bias + GELU backward.
// Fast kernels: cpu/grouped.cpp (groups shared out over threads, each epilogue right after its
// product), cuda/grouped_matmul.cu (one cuBLAS grouped GEMM).
#pragma once
#include <vector>

#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::moe::fused {

using Tensors = std::vector<Tensor>;

// outs[i] = as[i] @ bs[i] of 2-D views laid out as Backend::matmul takes them (one per expert).
void grouped_matmul_reference(const Tensors& outs, const Tensors& as, const Tensors& bs);
inline const FusedOp<decltype(grouped_matmul_reference)> grouped_matmul_op{"moe.grouped_matmul",
                                                                           &grouped_matmul_reference};

// A bank of linear layers, one per group (an expert's segment of rows): outs[i] = as[i] @ bs[i] +
// biases[i] (bias (n) over the rows). With `gelus` given (one per group, else empty), the layer is
// an MLP's first: outs[i] keep the pre-activations and gelus[i] = gelu_tanh(outs[i]), as
// nn.bias_gelu writes them. outs and gelus are contiguous, every group has rows.
void grouped_linear_reference(const Tensors& outs, const Tensors& gelus, const Tensors& as, const Tensors& bs,
                              const Tensors& biases);
inline const FusedOp<decltype(grouped_linear_reference)> grouped_linear_op{"moe.grouped_linear",
                                                                           &grouped_linear_reference};

// nn.bias_gelu_backward of each group, contiguous operands.
void grouped_bias_gelu_backward_reference(const Tensors& grad_pres, const Tensors& grad_biases, const Tensors& gs,
                                          const Tensors& pres);
inline const FusedOp<decltype(grouped_bias_gelu_backward_reference)> grouped_bias_gelu_backward_op{
    "moe.grouped_bias_gelu_backward", &grouped_bias_gelu_backward_reference};

// Checked entry points; groups without work are skipped (or zero-filled where they have outputs).
void grouped_matmul_into(const Tensors& outs, const Tensors& as, const Tensors& bs);
// outs[i] (rows_i, n_i) = as[i] @ bs[i] + biases[i]; with `gelus` given, outs[i] keep the
// pre-activations and gelus[i] = gelu_tanh(outs[i]). outs and gelus must be contiguous.
void grouped_linear_into(const Tensors& outs, const Tensors& as, const Tensors& bs, const Tensors& biases,
                         const Tensors& gelus = {});
// bias_gelu_backward of each group into contiguous grad_pres[i] and grad_biases[i] (a group
// without rows gets a zero bias gradient).
void grouped_bias_gelu_backward_into(const Tensors& grad_pres, const Tensors& grad_biases, const Tensors& grad_outs,
                                     const Tensors& pres);

}  // namespace promoe::moe::fused
