// GroupNorm on the CPU: one parallel loop over the (image, group) pairs of x (B, C, S), each pair's
// C/G * S values contiguous. Forward takes the mean and the biased variance in double (two passes)
// and writes y = x * a + b' per channel with a = rstd * weight, b' = bias - mean * a. Backward sums
// g and g * xhat per (image, channel) in double, uses them for the input gradient of the group, and
// adds them over the images in order for the weight and bias gradients, so nothing depends on the
// thread count.
#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/eigen_rows.h"
#include "cpu/strided.h"
#include "tensor/fused.h"

namespace promoe {

using cpu::ConstRow;
using cpu::Row;

namespace {

void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                const Tensor& bias, int64_t groups, double eps) {
  const int64_t B = x.size(0), C = x.size(1), S = x.size(2), Cg = C / groups, n = Cg * S;
  cpu::dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    const T* pb = bias.data<T>();
    T* py = out.data<T>();
    T* pm = mean.data<T>();
    T* pr = rstd.data<T>();
#pragma omp parallel for schedule(static) if (B * C * S > 16384)
    for (int64_t bg = 0; bg < B * groups; ++bg) {
      const int64_t c0 = (bg % groups) * Cg, off = bg * n;  // (b * C + c0) * S
      ConstRow<T> xr(px + off, n);
      const double mu = xr.template cast<double>().sum() / double(n);
      const double var = (xr.template cast<double>() - mu).square().sum() / double(n);
      const double inv = 1.0 / std::sqrt(var + eps);
      pm[bg] = T(mu);
      pr[bg] = T(inv);
      for (int64_t c = 0; c < Cg; ++c) {
        const double a = inv * double(pw[c0 + c]);
        const T shift = T(double(pb[c0 + c]) - mu * a);
        Row<T>(py + off + c * S, S) = ConstRow<T>(px + off + c * S, S) * T(a) + shift;
      }
    }
  });
}

void group_norm_backward(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& g,
                         const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                         int64_t groups) {
  const int64_t B = x.size(0), C = x.size(1), S = x.size(2), Cg = C / groups, n = Cg * S;
  std::vector<double> sum_g(size_t(B * C)), sum_gx(size_t(B * C));  // per (image, channel)
  cpu::dispatch_float(x.dtype(), "group_norm_backward", [&]<typename T>() {
    const T* px = x.data<T>();
    const T* pg = g.data<T>();
    const T* pw = weight.data<T>();
    const T* pm = mean.data<T>();
    const T* pr = rstd.data<T>();
    T* pgx = grad_x.data<T>();
#pragma omp parallel for schedule(static) if (B * C * S > 16384)
    for (int64_t bg = 0; bg < B * groups; ++bg) {
      const int64_t c0 = (bg % groups) * Cg, off = bg * n, bc0 = (bg / groups) * C + c0;
      const double mu = pm[bg], inv = pr[bg];
      double mean_h = 0, mean_hx = 0;  // of h = g * weight, h * xhat over the group
      for (int64_t c = 0; c < Cg; ++c) {
        ConstRow<T> xr(px + off + c * S, S), gr(pg + off + c * S, S);
        const double sg = gr.template cast<double>().sum();
        const double sgx = (gr.template cast<double>() * (xr.template cast<double>() - mu)).sum() * inv;
        sum_g[size_t(bc0 + c)] = sg;
        sum_gx[size_t(bc0 + c)] = sgx;
        mean_h += double(pw[c0 + c]) * sg;
        mean_hx += double(pw[c0 + c]) * sgx;
      }
      mean_h /= double(n);
      mean_hx /= double(n);
      for (int64_t c = 0; c < Cg; ++c) {
        ConstRow<T> xr(px + off + c * S, S), gr(pg + off + c * S, S);
        const T w = pw[c0 + c];
        // gx = inv * (g w - mean_h - xhat mean_hx), with xhat = (x - mu) inv
        Row<T>(pgx + off + c * S, S) = T(inv) * (gr * w - T(mean_h)) - (xr - T(mu)) * T(inv * inv * mean_hx);
      }
    }
    T* pgw = grad_weight.data<T>();
    T* pgb = grad_bias.data<T>();
    for (int64_t c = 0; c < C; ++c) {
      double w = 0, b = 0;
      for (int64_t i = 0; i < B; ++i) {
        w += sum_gx[size_t(i * C + c)];
        b += sum_g[size_t(i * C + c)];
      }
      pgw[c] = T(w);
      pgb[c] = T(b);
    }
  });
}

// The fast kernels of nn.group_norm and nn.group_norm_backward.
const bool registered = register_fused_kernel("nn.group_norm", DeviceType::CPU, &group_norm) &&
                        register_fused_kernel("nn.group_norm_backward", DeviceType::CPU, &group_norm_backward);

}  // namespace

}  // namespace promoe
