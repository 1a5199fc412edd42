// CUDA row-wise kernels over the last dim of contiguous tensors: softmax, log-softmax, LayerNorm
// (no affine) and their backward passes. A row goes to one warp (n <= 1024) or to one block of 256
// threads; the row math is in cuda/rowwise_math.cuh.
#include "cuda/common.cuh"
#include "cuda/row_stats.cuh"
#include "cuda/rowwise_math.cuh"

namespace promoe::cuda {

namespace {

template <typename T, int NL>
__global__ void softmax_kernel(const T* x, T* y, int64_t rows, int64_t n, bool log_out) {
  PROMOE_ROW_LOOP(r, rows) {
    const T* xr = x + r * n;
    const T mx = T(group_reduce<NL>(double(rowmath::lane_max(xr, n, lane, NL)), MaxOp{}, smem));
    const double s = group_reduce<NL>(rowmath::lane_sum_exp(xr, n, mx, lane, NL), SumOp{}, smem);
    rowmath::softmax_apply(y + r * n, xr, n, mx, s, log_out, lane, NL);
  }
}

template <typename T, int NL>
__global__ void softmax_backward_kernel(T* gi, const T* g, const T* y, int64_t rows, int64_t n, bool log_out) {
  PROMOE_ROW_LOOP(r, rows) {
    const double s =
        group_reduce<NL>(rowmath::lane_softmax_grad_dot(g + r * n, y + r * n, n, log_out, lane, NL), SumOp{}, smem);
    rowmath::softmax_grad_apply(gi + r * n, g + r * n, y + r * n, n, s, log_out, lane, NL);
  }
}

template <typename T, int NL>
__global__ void layer_norm_kernel(const T* x, T* y, T* mean, T* rstd, int64_t rows, int64_t n, double eps) {
  PROMOE_ROW_LOOP(r, rows) {
    const RowStats s = layer_norm_row_stats<NL>(x, r, n, eps, lane, smem, mean, rstd);
    rowmath::layer_norm_apply(y + r * n, x + r * n, n, s.mean, s.rstd, lane, NL);
  }
}

template <typename T, int NL>
__global__ void layer_norm_backward_kernel(T* gi, const T* g, const T* x, const T* mean, const T* rstd, int64_t rows,
                                           int64_t n) {
  PROMOE_ROW_LOOP(r, rows) {
    const double mu = mean[r], inv = rstd[r];
    double sg, sgx;
    rowmath::lane_layer_norm_grad_sums(x + r * n, g + r * n, n, mu, inv, lane, NL, &sg, &sgx);
    sg = group_reduce<NL>(sg, SumOp{}, smem) / double(n);
    sgx = group_reduce<NL>(sgx, SumOp{}, smem) / double(n);
    rowmath::layer_norm_grad_apply(gi + r * n, x + r * n, g + r * n, n, mu, inv, sg, sgx, lane, NL);
  }
}

}  // namespace

void CudaBackend::softmax(const Tensor& out, const Tensor& a, bool log) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  PROMOE_CUDA_DISPATCH_FLOAT(
      a.dtype(), "softmax",
      PROMOE_ROW_LAUNCH(softmax_kernel, "softmax", rows, n, a.data<T>(), out.data<T>(), rows, n, log));
}

void CudaBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  const int64_t n = out.shape().back(), rows = out.numel() / n;
  PROMOE_CUDA_DISPATCH_FLOAT(out.dtype(), "softmax_backward",
                             PROMOE_ROW_LAUNCH(softmax_backward_kernel, "softmax_backward", rows, n, grad_in.data<T>(),
                                               grad_out.data<T>(), out.data<T>(), rows, n, log));
}

void CudaBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  PROMOE_CUDA_DISPATCH_FLOAT(a.dtype(), "layer_norm",
                             PROMOE_ROW_LAUNCH(layer_norm_kernel, "layer_norm", rows, n, a.data<T>(), out.data<T>(),
                                               mean.data<T>(), rstd.data<T>(), rows, n, eps));
}

void CudaBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a,
                                      const Tensor& mean, const Tensor& rstd) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  PROMOE_CUDA_DISPATCH_FLOAT(
      a.dtype(), "layer_norm_backward",
      PROMOE_ROW_LAUNCH(layer_norm_backward_kernel, "layer_norm_backward", rows, n, grad_in.data<T>(),
                        grad_out.data<T>(), a.data<T>(), mean.data<T>(), rstd.data<T>(), rows, n));
}

}  // namespace promoe::cuda
