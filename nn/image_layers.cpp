// Conv2d and GroupNorm modules over the fused image ops.
#include "nn/image_layers.h"

#include "nn/image_ops.h"
#include "nn/init.h"
#include "tensor/ops.h"

namespace promoe::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t pad_, Generator& gen, bool has_bias)
    : weight(register_parameter("weight", raw::zeros({out, in, kernel, kernel}))),
      bias(nullptr),
      stride(stride_),
      pad(pad_) {
  init::fan_in_uniform(weight, gen, in * kernel * kernel);
  if (has_bias) {
    bias = &register_parameter("bias", raw::zeros({out}));
    init::fan_in_uniform(*bias, gen, in * kernel * kernel);
  }
}

Tensor Conv2d::forward(const Tensor& x) const { return conv2d(x, weight, bias ? *bias : Tensor(), stride, pad); }

GroupNorm::GroupNorm(int64_t groups_, int64_t channels, double eps_)
    : weight(register_parameter("weight", raw::ones({channels}))),
      bias(register_parameter("bias", raw::zeros({channels}))),
      groups(groups_),
      eps(eps_) {
  PROMOE_CHECK(groups >= 1 && channels % groups == 0, "GroupNorm: ", channels, " channels do not split into ", groups,
               " groups");
}

Tensor GroupNorm::forward(const Tensor& x) const { return group_norm(x, groups, weight, bias, eps); }

}  // namespace promoe::nn
