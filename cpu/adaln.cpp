// Fused adaLN kernels on the CPU: LayerNorm + modulation and the gated residual, each one pass over
// the (B, N, D) activation, rows as vectorised Eigen arrays. The per-image gradient sums (shift,
// scale, gate) are accumulated by one thread per image, so they need no atomics and do not depend
// on the thread count.
#include <Eigen/Core>
#include <cmath>

#include "cpu/cpu_backend.h"
#include "cpu/eigen_rows.h"
#include "cpu/strided.h"
#include "tensor/fused.h"

namespace promoe {

using cpu::ConstRow;
using cpu::Row;

namespace {

void layer_norm_modulate(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                         const Tensor& shift, const Tensor& scale, double eps) {
  const int64_t N = x.size(1), D = x.size(2), rows = x.size(0) * N;
  cpu::dispatch_float(x.dtype(), "layer_norm_modulate", [&]<typename T>() {
    const T* px = x.data<T>();
    const T* psh = shift.data<T>();
    const T* psc = scale.data<T>();
    T* py = out.data<T>();
    T* pm = mean.data<T>();
    T* pr = rstd.data<T>();
#pragma omp parallel for schedule(static) if (rows * D > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / N;
      ConstRow<T> xr(px + r * D, D), sh(psh + b * D, D), sc(psc + b * D, D);
      Row<T> yr(py + r * D, D);
      const T mu = xr.mean();
      yr = xr - mu;
      const T inv = T(1) / std::sqrt(yr.square().mean() + T(eps));  // biased variance, as PyTorch
      yr = yr * inv * (T(1) + sc) + sh;
      pm[r] = mu;
      pr[r] = inv;
    }
  });
}

void layer_norm_modulate_backward(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                  const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& scale) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2);
  cpu::dispatch_float(x.dtype(), "layer_norm_modulate_backward", [&]<typename T>() {
    const T* px = x.data<T>();
    const T* pg = g.data<T>();
    const T* pm = mean.data<T>();
    const T* pr = rstd.data<T>();
    const T* psc = scale.data<T>();
    T* pgx = grad_x.data<T>();
    T* pgsh = grad_shift.data<T>();
    T* pgsc = grad_scale.data<T>();
#pragma omp parallel for schedule(static) if (B > 1 && B * N * D > 16384)
    for (int64_t b = 0; b < B; ++b) {
      ConstRow<T> sc(psc + b * D, D);
      Row<T> gsh(pgsh + b * D, D), gsc(pgsc + b * D, D);
      gsh.setZero();
      gsc.setZero();
      for (int64_t r = b * N; r < (b + 1) * N; ++r) {
        ConstRow<T> xr(px + r * D, D), gr(pg + r * D, D);
        Row<T> gx(pgx + r * D, D);
        const T inv = pr[r];
        gx = (xr - pm[r]) * inv;  // xhat, kept in the output row
        gsh += gr;
        gsc += gr * gx;
        const T mean_gh = (gr * (T(1) + sc)).mean(), mean_ghx = (gr * (T(1) + sc) * gx).mean();
        gx = inv * (gr * (T(1) + sc) - mean_gh - gx * mean_ghx);
      }
    }
  });
}

void gated_add(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y) {
  const int64_t N = x.size(1), D = x.size(2), rows = x.size(0) * N;
  cpu::dispatch_float(x.dtype(), "gated_add", [&]<typename T>() {
    const T* px = x.data<T>();
    const T* pgate = gate.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for schedule(static) if (rows * D > 32768)
    for (int64_t r = 0; r < rows; ++r) {
      Row<T>(po + r * D, D) =
          ConstRow<T>(px + r * D, D) + ConstRow<T>(pgate + (r / N) * D, D) * ConstRow<T>(py + r * D, D);
    }
  });
}

void gated_add_backward(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                        const Tensor& gate) {
  const int64_t B = y.size(0), N = y.size(1), D = y.size(2);
  cpu::dispatch_float(y.dtype(), "gated_add_backward", [&]<typename T>() {
    const T* pg = g.data<T>();
    const T* py = y.data<T>();
    const T* pgate = gate.data<T>();
    T* pgy = grad_y.data<T>();
    T* pgg = grad_gate.data<T>();
#pragma omp parallel for schedule(static) if (B > 1 && B * N * D > 32768)
    for (int64_t b = 0; b < B; ++b) {
      ConstRow<T> gt(pgate + b * D, D);
      Row<T> gg(pgg + b * D, D);
      gg.setZero();
      for (int64_t r = b * N; r < (b + 1) * N; ++r) {
        ConstRow<T> gr(pg + r * D, D);
        Row<T>(pgy + r * D, D) = gr * gt;
        gg += gr * ConstRow<T>(py + r * D, D);
      }
    }
  });
}

// The fast kernels of nn.gated_add, nn.gated_add_backward, nn.layer_norm_modulate, nn.layer_norm_modulate_backward.
const bool registered =
    register_fused_kernel("nn.layer_norm_modulate", DeviceType::CPU, &layer_norm_modulate) &&
    register_fused_kernel("nn.layer_norm_modulate_backward", DeviceType::CPU, &layer_norm_modulate_backward) &&
    register_fused_kernel("nn.gated_add", DeviceType::CPU, &gated_add) &&
    register_fused_kernel("nn.gated_add_backward", DeviceType::CPU, &gated_add_backward);

}  // namespace

}  // namespace promoe
