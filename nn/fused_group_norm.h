// The fused GroupNorm with its per-channel affine (tensor/fused.h), and its backward. The composed
// reference views x (B, C, S) as (B, G, C/G * S) rows for the layer_norm primitive and applies the
// affine with broadcast elementwise ops. Fast kernels: cpu/group_norm.cpp, cuda/group_norm.cu.
#pragma once
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::nn::fused {

// On contiguous x (B, C, S) (S: the pixels of a channel) in `groups` groups of C / groups channels,
// weight, bias (C): out = (x - mean_g) * rstd_g * weight[c] + bias[c], mean and rstd (B, groups)
// the statistics of each (image, group) over its C / groups * S values (biased variance, as
// PyTorch). All contiguous.
void group_norm_reference(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                          const Tensor& weight, const Tensor& bias, int64_t groups, double eps);
inline const FusedOp<decltype(group_norm_reference)> group_norm_op{"nn.group_norm", &group_norm_reference};

// From g = d/d out (B, C, S): grad_x (B, C, S), grad_weight = sum_{b, s} g * xhat, grad_bias =
// sum_{b, s} g (C). All contiguous, written in full.
void group_norm_backward_reference(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                                   const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight, int64_t groups);
inline const FusedOp<decltype(group_norm_backward_reference)> group_norm_backward_op{"nn.group_norm_backward",
                                                                                     &group_norm_backward_reference};

// Checked entry points for x (B, C, ...) of any number of trailing dims (flattened into S).
struct GroupNormResult {
  Tensor out, mean, rstd;  // out like x; mean, rstd (B, groups)
};
GroupNormResult group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps);
struct GroupNormGrads {
  Tensor x, weight, bias;
};
GroupNormGrads group_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight, int64_t groups);

}  // namespace promoe::nn::fused
