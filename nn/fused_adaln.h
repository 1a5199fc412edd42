// The fused adaLN-Zero ops (tensor/fused.h): LayerNorm + modulation of x (B, N, D) by per-image
// vectors shift, scale (B, D), and the gated residual x + gate * y, each with its backward. Fast
// kernels: cpu/adaln.cpp, cuda/adaln.cu. The checked entry points below allocate the outputs and
// make the operands contiguous; nn/functional.h wraps them into differentiable ops.
#pragma once
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::nn::fused {

// out = LayerNorm(x) * (1 + scale) + shift, with mean, rstd (B, N) as layer_norm writes them; all
// contiguous.
void layer_norm_modulate_reference(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                   const Tensor& shift, const Tensor& scale, double eps);
inline const FusedOp<decltype(layer_norm_modulate_reference)> layer_norm_modulate_op{"nn.layer_norm_modulate",
                                                                                     &layer_norm_modulate_reference};

// From g = d/d out: grad_x, grad_shift = sum_n g, grad_scale = sum_n g * xhat.
void layer_norm_modulate_backward_reference(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                            const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                            const Tensor& scale);
inline const FusedOp<decltype(layer_norm_modulate_backward_reference)> layer_norm_modulate_backward_op{
    "nn.layer_norm_modulate_backward", &layer_norm_modulate_backward_reference};

// out = x + gate * y; all (B, N, D) but gate (B, D).
void gated_add_reference(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y);
inline const FusedOp<decltype(gated_add_reference)> gated_add_op{"nn.gated_add", &gated_add_reference};

// From g = d/d out: grad_y = g * gate, grad_gate = sum_n g * y (grad_x is g itself).
void gated_add_backward_reference(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                                  const Tensor& gate);
inline const FusedOp<decltype(gated_add_backward_reference)> gated_add_backward_op{"nn.gated_add_backward",
                                                                                   &gated_add_backward_reference};

// Checked entry points.
struct LayerNormModulateResult {
  Tensor out, mean, rstd;  // out (B, N, D); mean, rstd (B, N)
};
LayerNormModulateResult layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps);
struct LayerNormModulateGrads {
  Tensor x, shift, scale;
};
LayerNormModulateGrads layer_norm_modulate_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean,
                                                    const Tensor& rstd, const Tensor& scale);
// x + gate * y, gate broadcast over N.
Tensor gated_add(const Tensor& x, const Tensor& gate, const Tensor& y);
struct GatedAddGrads {
  Tensor y, gate;  // the gradient for x is grad_out itself
};
GatedAddGrads gated_add_backward(const Tensor& grad_out, const Tensor& y, const Tensor& gate);

}  // namespace promoe::nn::fused
