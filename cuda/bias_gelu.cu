// Fused bias + GELU(tanh) of an MLP's first layer on CUDA, on contiguous pre (rows, n): forward is
// one elementwise pass (bias added to pre in place, GELU written to out); backward is one pass of
// the deterministic column sums (cuda/colsum.cuh) whose term writes grad_pre and sums grad_bias.
// Math in cuda/bias_gelu_math.cuh.
#include "cuda/bias_gelu_math.cuh"
#include "cuda/colsum.cuh"
#include "tensor/fused.h"

namespace promoe::cuda {

namespace {

template <typename T>
__global__ void bias_gelu_kernel(T* out, T* pre, const T* bias, int64_t total, int64_t n) {
  PROMOE_GRID_STRIDE(i, total) { out[i] = gelumath::bias_gelu_at(pre, bias, i, n); }
}

}  // namespace

namespace {

void bias_gelu(const Tensor& out, const Tensor& pre, const Tensor& bias) {
  PROMOE_CUDA_DISPATCH_FLOAT(pre.dtype(), "bias_gelu",
                             launch_1d("bias_gelu", pre.numel(), bias_gelu_kernel<T>, out.data<T>(), pre.data<T>(),
                                       bias.data<T>(), pre.numel(), pre.size(1)));
}

void bias_gelu_backward(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre) {
  const int64_t rows = pre.size(0), n = pre.size(1);
  PROMOE_CUDA_DISPATCH_FLOAT(pre.dtype(), "bias_gelu_backward", {
    const gelumath::BiasGeluTerms<T> terms{g.data<T>(), pre.data<T>(), grad_pre.data<T>(), n};
    launch_col_sums<1>("bias_gelu_backward", terms, 1, rows, n, ColOut<T, 1>{{grad_bias.data<T>()}});
  });
}

// The fast kernels of nn.bias_gelu, nn.bias_gelu_backward.
const bool registered = register_fused_kernel("nn.bias_gelu", DeviceType::CUDA, &bias_gelu) &&
                        register_fused_kernel("nn.bias_gelu_backward", DeviceType::CUDA, &bias_gelu_backward);

}  // namespace

}  // namespace promoe::cuda
