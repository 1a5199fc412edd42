// The bias + GELU fused op: composed reference and checked entry points.
#include "nn/fused_bias_gelu.h"

namespace promoe::nn::fused {

void bias_gelu_reference(const Tensor& out, const Tensor& pre, const Tensor& bias) {
  raw::add_(pre, bias);
  raw::copy_(out, raw::unary(UnaryOp::GeluTanh, pre));
}

void bias_gelu_backward_reference(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre) {
  raw::copy_(grad_pre, raw::binary(BinaryOp::GeluTanhBackward, pre, g));
  raw::copy_(grad_bias, raw::sum(grad_pre, {0}));
}

namespace {
// The operands both entry points take: contiguous (rows, n) pre-activations and their bias (n).
void check_bias_gelu(const Tensor& pre, const Tensor& bias) {
  raw::check_floating(pre, "bias_gelu");
  raw::check_same_device(pre, bias, "bias_gelu");
  raw::check_same_dtype(pre, bias, "bias_gelu");
  PROMOE_CHECK(pre.dim() == 2 && pre.is_contiguous() && bias.shape() == Shape{pre.size(1)},
               "bias_gelu: ", describe(pre), " must be contiguous (rows, n) with a bias (n), got bias ",
               describe(bias));
}
}  // namespace

Tensor bias_gelu_(const Tensor& pre, const Tensor& bias) {
  check_bias_gelu(pre, bias);
  Tensor out = Tensor::empty(pre.shape(), pre.dtype(), pre.device());
  if (pre.numel()) bias_gelu_op(pre.device(), out, pre, raw::contiguous(bias));
  return out;
}

Tensor bias_gelu_inplace_(const Tensor& pre, const Tensor& bias) {
  check_bias_gelu(pre, bias);
  if (pre.numel()) bias_gelu_op(pre.device(), pre, pre, raw::contiguous(bias));
  return pre;
}

BiasGeluGrads bias_gelu_backward(const Tensor& grad_out, const Tensor& pre) {
  PROMOE_CHECK(pre.dim() == 2 && grad_out.shape() == pre.shape(), "bias_gelu_backward: gradient ", describe(grad_out),
               " does not match ", describe(pre));
  BiasGeluGrads g{Tensor::empty(pre.shape(), pre.dtype(), pre.device()),
                  Tensor::empty({pre.size(1)}, pre.dtype(), pre.device())};
  if (pre.size(1) == 0) return g;
  if (pre.size(0) == 0)
    raw::fill_(g.bias, 0.0);
  else
    bias_gelu_backward_op(pre.device(), g.pre, g.bias, raw::contiguous(grad_out), raw::contiguous(pre));
  return g;
}

}  // namespace promoe::nn::fused
