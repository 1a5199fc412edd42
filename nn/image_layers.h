// Image layers on NCHW tensors, with PyTorch's parameter names and layouts: Conv2d (weight
// (out, in, k, k), bias (out)) and GroupNorm (weight, bias (C)).
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace promoe::nn {

class Conv2d : public Module {
 public:
  // PyTorch's default initialisation (U(+-1/sqrt(in * k * k)) for weight and bias).
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x) const;  // (B, in, H, W) -> (B, out, Ho, Wo)

  Tensor& weight;  // (out, in, k, k)
  Tensor* bias;    // (out) or null
  int64_t stride, pad;
};

class GroupNorm : public Module {
 public:
  // weight 1, bias 0, as torch.nn.GroupNorm.
  GroupNorm(int64_t groups, int64_t channels, double eps);
  Tensor forward(const Tensor& x) const;  // (B, C, ...)

  Tensor &weight, &bias;  // (C)
  int64_t groups;
  double eps;
};

}  // namespace promoe::nn
