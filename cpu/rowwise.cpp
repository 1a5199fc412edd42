// CPU row-wise kernels over the last dim of contiguous tensors: softmax, log-softmax, LayerNorm
// (no affine) and their backward passes. Row statistics accumulate in double.
#include <cmath>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"

namespace promoe {

void CpuBackend::softmax(const Tensor& out, const Tensor& a, bool log) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  PROMOE_DISPATCH_FLOAT(a.dtype(), "softmax", {
    const T* x = a.data<T>();
    T* y = out.data<T>();
_Pragma("omp parallel for schedule(static) if (rows * n > 16384)")
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      T mx = xr[0];
      for (int64_t i = 1; i < n; ++i) mx = std::max(mx, xr[i]);
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += std::exp(double(xr[i] - mx));
      if (log) {
        T lse = T(std::log(s));
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - mx - lse;
      } else {
        T inv = T(1.0 / s);
        for (int64_t i = 0; i < n; ++i) yr[i] = std::exp(xr[i] - mx) * inv;
      }
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  const int64_t n = out.shape().back(), rows = out.numel() / n;
  PROMOE_DISPATCH_FLOAT(out.dtype(), "softmax_backward", {
    const T* g = grad_out.data<T>();
    const T* y = out.data<T>();
    T* gi = grad_in.data<T>();
_Pragma("omp parallel for schedule(static) if (rows * n > 16384)")
    for (int64_t r = 0; r < rows; ++r) {
      const T* gr = g + r * n;
      const T* yr = y + r * n;
      T* out_r = gi + r * n;
      double s = 0;
      if (log) {  // d/dx log_softmax: g - softmax * sum(g)
        for (int64_t i = 0; i < n; ++i) s += gr[i];
        for (int64_t i = 0; i < n; ++i) out_r[i] = gr[i] - std::exp(yr[i]) * T(s);
      } else {  // y * (g - sum(g * y))
        for (int64_t i = 0; i < n; ++i) s += double(gr[i]) * double(yr[i]);
        for (int64_t i = 0; i < n; ++i) out_r[i] = yr[i] * (gr[i] - T(s));
      }
    }
  });
}

void CpuBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& a, double eps) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  PROMOE_DISPATCH_FLOAT(a.dtype(), "layer_norm", {
    const T* x = a.data<T>();
    T* y = out.data<T>();
    T* pm = mean.data<T>();
    T* pr = rstd.data<T>();
_Pragma("omp parallel for schedule(static) if (rows * n > 16384)")
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * n;
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i) s += xr[i];
      const double mu = s / double(n);
      for (int64_t i = 0; i < n; ++i) ss += (xr[i] - mu) * (xr[i] - mu);
      const double inv = 1.0 / std::sqrt(ss / double(n) + eps);  // biased variance, as PyTorch
      pm[r] = T(mu);
      pr[r] = T(inv);
      T* yr = y + r * n;
      for (int64_t i = 0; i < n; ++i) yr[i] = T((xr[i] - mu) * inv);
    }
  });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& a,
                                     const Tensor& mean, const Tensor& rstd) {
  const int64_t n = a.shape().back(), rows = a.numel() / n;
  PROMOE_DISPATCH_FLOAT(a.dtype(), "layer_norm_backward", {
    const T* x = a.data<T>();
    const T* g = grad_out.data<T>();
    const T* pm = mean.data<T>();
    const T* pr = rstd.data<T>();
    T* gi = grad_in.data<T>();
_Pragma("omp parallel for schedule(static) if (rows * n > 16384)")
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * n;
      const T* gr = g + r * n;
      const double mu = pm[r], inv = pr[r];
      double sg = 0, sgx = 0;
      for (int64_t i = 0; i < n; ++i) {
        double xhat = (xr[i] - mu) * inv;
        sg += gr[i];
        sgx += gr[i] * xhat;
      }
      sg /= double(n);
      sgx /= double(n);
      T* out_r = gi + r * n;
      for (int64_t i = 0; i < n; ++i) out_r[i] = T(inv * (gr[i] - sg - (xr[i] - mu) * inv * sgx));
    }
  });
}

}  // namespace promoe
