// The fused bias + GELU(tanh) after an MLP's first GEMM (tensor/fused.h), and its backward. Fast
// kernels: cpu/bias_gelu.cpp, cuda/bias_gelu.cu.
#pragma once
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::nn::fused {

// On contiguous pre (rows, n) and bias (n): pre += bias in place (kept for backward), out =
// gelu_tanh(pre).
void bias_gelu_reference(const Tensor& out, const Tensor& pre, const Tensor& bias);
inline const FusedOp<decltype(bias_gelu_reference)> bias_gelu_op{"nn.bias_gelu", &bias_gelu_reference};

// grad_pre = g * gelu_tanh'(pre); grad_bias (n) = column sums of grad_pre.
void bias_gelu_backward_reference(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre);
inline const FusedOp<decltype(bias_gelu_backward_reference)> bias_gelu_backward_op{"nn.bias_gelu_backward",
                                                                                   &bias_gelu_backward_reference};

// Checked entry points. bias_gelu_: pre must be a fresh contiguous (rows, n) tensor (it is what
// backward needs); returns gelu_tanh(pre + bias) and leaves pre + bias in pre.
Tensor bias_gelu_(const Tensor& pre, const Tensor& bias);
// Inference, where backward needs nothing: gelu_tanh(pre + bias) written over pre, which is
// returned (the same kernel with out = pre: every element is read before it is written).
Tensor bias_gelu_inplace_(const Tensor& pre, const Tensor& bias);
struct BiasGeluGrads {
  Tensor pre, bias;
};
BiasGeluGrads bias_gelu_backward(const Tensor& grad_out, const Tensor& pre);

}  // namespace promoe::nn::fused
