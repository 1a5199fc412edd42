// Fused differentiable ops used by the layers, each with a hand-written backward, and the composed
// reference versions their gradient checks compare against.
#pragma once
#include "autograd/ops.h"

namespace promoe::nn {

// y = x W^T + b over the last dim of x (..., in) with W (out, in), b (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// gelu_tanh(linear(x, weight, bias)) as one op: the bias add and the activation are one pass over
// the (rows, out) product forward, and the activation derivative with the bias gradient one
// backward. bias must be defined.
Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias);

// h * (1 + scale) + shift with shift, scale (B, D) broadcast over the tokens of h (B, N, D),
// composed from differentiable primitives: the reference layer_norm_modulate is checked against.
Tensor modulate(const Tensor& h, const Tensor& shift, const Tensor& scale);

// adaLN-Zero, fused: modulate(LayerNorm(x, eps), shift, scale) for x (B, N, D) as one op, and the
// gated residual x + gate * y with gate (B, D) broadcast over N. Each is one pass over the
// activation forward and one backward; gradient-checked against the composed versions.
Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps);
Tensor gated_residual(const Tensor& x, const Tensor& gate, const Tensor& y);

// Multi-head self-attention core from a fused qkv projection: qkv (B, N, 3D) laid out as
// (3, H, hd) per token (q, k, v of head h at offsets 0, D, 2D plus h*hd), scale 1/sqrt(hd), no mask.
// Returns the merged heads (B, N, D). One op with a hand-written backward.
Tensor attention(const Tensor& qkv, int64_t num_heads);
// The same computation composed from differentiable primitives (for gradient checks).
Tensor attention_reference(const Tensor& qkv, int64_t num_heads);

}  // namespace promoe::nn
