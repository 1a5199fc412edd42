// CPU row-wise kernels over the last dim of contiguous tensors: softmax, log-softmax, LayerNorm
// (no affine) and their backward passes, each row as a vectorised Eigen array expression. Row
// statistics accumulate in the tensor's dtype, as PyTorch's CPU kernels do.
#include <Eigen/Core>
#include <cmath>

#include "cpu/cpu_backend.h"
#include "cpu/eigen_rows.h"
#include "cpu/strided.h"

namespace promoe {

using cpu::ConstRow;
using cpu::Row;

void CpuBackend::softmax(const Tensor& out, const Tensor& a, bool log) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  cpu::dispatch_float(a.dtype(), "softmax", [&]<typename T>() {
    const T* x = a.data<T>();
    T* y = out.data<T>();
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      ConstRow<T> xr(x + r * n, n);
      Row<T> yr(y + r * n, n);
      const T mx = xr.maxCoeff();
      if (log) {
        const T lse = std::log((xr - mx).exp().sum());
        yr = xr - (mx + lse);
      } else {
        yr = (xr - mx).exp();  // vectorised exp, once per element
        yr *= T(1) / yr.sum();
      }
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  const int64_t n = out.shape().back(), rows = out.numel() / n;
  cpu::dispatch_float(out.dtype(), "softmax_backward", [&]<typename T>() {
    const T* g = grad_out.data<T>();
    const T* y = out.data<T>();
    T* gi = grad_in.data<T>();
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      ConstRow<T> gr(g + r * n, n), yr(y + r * n, n);
      Row<T> out_r(gi + r * n, n);
      if (log)
        out_r = gr - yr.exp() * gr.sum();  // d/dx log_softmax: g - softmax * sum(g)
      else
        out_r = yr * (gr - (gr * yr).sum());  // y * (g - sum(g * y))
    }
  });
}

void CpuBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  cpu::dispatch_float(a.dtype(), "layer_norm", [&]<typename T>() {
    const T* x = a.data<T>();
    T* y = out.data<T>();
    T* pm = mean.data<T>();
    T* pr = rstd.data<T>();
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      ConstRow<T> xr(x + r * n, n);
      Row<T> yr(y + r * n, n);
      const T mu = xr.mean();
      yr = xr - mu;
      const T inv = T(1) / std::sqrt(yr.square().mean() + T(eps));  // biased variance, as PyTorch
      yr *= inv;
      pm[r] = mu;
      pr[r] = inv;
    }
  });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a, const Tensor& mean,
                                     const Tensor& rstd) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  cpu::dispatch_float(a.dtype(), "layer_norm_backward", [&]<typename T>() {
    const T* x = a.data<T>();
    const T* g = grad_out.data<T>();
    const T* pm = mean.data<T>();
    const T* pr = rstd.data<T>();
    T* gi = grad_in.data<T>();
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      ConstRow<T> xr(x + r * n, n), gr(g + r * n, n);
      Row<T> out_r(gi + r * n, n);
      const T mu = pm[r], inv = pr[r];
      out_r = (xr - mu) * inv;  // xhat, kept in the output row
      const T mean_g = gr.mean(), mean_gx = (gr * out_r).mean();
      out_r = inv * (gr - mean_g - out_r * mean_gx);
    }
  });
}

}  // namespace promoe
