// Fused adaLN kernels on CUDA: LayerNorm + modulation of a contiguous x (B, N, D) by shift, scale
// (B, D) and its backward, the gated residual out = x + gate * y and its backward. Rows go to a
// warp (D <= 1024) or a block, as in cuda/rowwise.cu; the per-image sums over n (grad_shift,
// grad_scale, grad_gate) are deterministic column sums (cuda/colsum.cuh). Math in
// cuda/adaln_math.cuh and cuda/rowwise_math.cuh.
#include "cuda/adaln_math.cuh"
#include "cuda/colsum.cuh"
#include "cuda/row_stats.cuh"
#include "cuda/rowwise_math.cuh"
#include "tensor/fused.h"

namespace promoe::cuda {

namespace {

// Row r = b * N + n of x (rows, D) with shift, scale (B, D); mean, rstd (rows).
template <typename T, int NL>
__global__ void modulate_kernel(const T* x, const T* shift, const T* scale, T* y, T* mean, T* rstd, int64_t rows,
                                int64_t N, int64_t D, double eps) {
  PROMOE_ROW_LOOP(r, rows) {
    const RowStats s = layer_norm_row_stats<NL>(x, r, D, eps, lane, smem, mean, rstd);
    const int64_t b = r / N;
    adamath::modulate_apply(y + r * D, x + r * D, shift + b * D, scale + b * D, D, s.mean, s.rstd, lane, NL);
  }
}

template <typename T, int NL>
__global__ void modulate_backward_kernel(T* gx, const T* g, const T* x, const T* mean, const T* rstd, const T* scale,
                                         int64_t rows, int64_t N, int64_t D) {
  PROMOE_ROW_LOOP(r, rows) {
    const double mu = mean[r], inv = rstd[r];
    const T* sc = scale + (r / N) * D;
    double sh, shx;
    adamath::lane_modulate_grad_sums(x + r * D, g + r * D, sc, D, mu, inv, lane, NL, &sh, &shx);
    sh = group_reduce<NL>(sh, SumOp{}, smem) / double(D);
    shx = group_reduce<NL>(shx, SumOp{}, smem) / double(D);
    adamath::modulate_grad_apply(gx + r * D, x + r * D, g + r * D, sc, D, mu, inv, sh, shx, lane, NL);
  }
}

template <typename T>
__global__ void gated_add_kernel(T* out, const T* x, const T* gate, const T* y, int64_t total, int64_t N, int64_t D) {
  PROMOE_GRID_STRIDE(i, total) { out[i] = adamath::gated_add_at(x, gate, y, i, N, D); }
}

}  // namespace

namespace {

void layer_norm_modulate(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                         const Tensor& shift, const Tensor& scale, double eps) {
  const int64_t N = x.size(1), D = x.size(2), rows = x.size(0) * N;
  PROMOE_CUDA_DISPATCH_FLOAT(
      x.dtype(), "layer_norm_modulate",
      PROMOE_ROW_LAUNCH(modulate_kernel, "layer_norm_modulate", rows, D, x.data<T>(), shift.data<T>(), scale.data<T>(),
                        out.data<T>(), mean.data<T>(), rstd.data<T>(), rows, N, D, eps));
}

void layer_norm_modulate_backward(const Tensor& grad_x, const Tensor& grad_shift, const Tensor& grad_scale,
                                  const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& scale) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), rows = B * N;
  PROMOE_CUDA_DISPATCH_FLOAT(x.dtype(), "layer_norm_modulate_backward", {
    PROMOE_ROW_LAUNCH(modulate_backward_kernel, "layer_norm_modulate_backward", rows, D, grad_x.data<T>(), g.data<T>(),
                      x.data<T>(), mean.data<T>(), rstd.data<T>(), scale.data<T>(), rows, N, D);
    const adamath::ModulateTerms<T> terms{g.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), N, D};
    launch_col_sums<2>("layer_norm_modulate_backward (shift, scale sums)", terms, B, N, D,
                       ColOut<T, 2>{{grad_shift.data<T>(), grad_scale.data<T>()}});
  });
}

void gated_add(const Tensor& out, const Tensor& x, const Tensor& gate, const Tensor& y) {
  const int64_t N = x.size(1), D = x.size(2);
  PROMOE_CUDA_DISPATCH_FLOAT(x.dtype(), "gated_add",
                             launch_1d("gated_add", x.numel(), gated_add_kernel<T>, out.data<T>(), x.data<T>(),
                                       gate.data<T>(), y.data<T>(), x.numel(), N, D));
}

void gated_add_backward(const Tensor& grad_y, const Tensor& grad_gate, const Tensor& g, const Tensor& y,
                        const Tensor& gate) {
  const int64_t B = y.size(0), N = y.size(1), D = y.size(2);
  PROMOE_CUDA_DISPATCH_FLOAT(y.dtype(), "gated_add_backward", {
    const adamath::GatedTerms<T> terms{g.data<T>(), y.data<T>(), gate.data<T>(), grad_y.data<T>(), N, D};
    launch_col_sums<1>("gated_add_backward", terms, B, N, D, ColOut<T, 1>{{grad_gate.data<T>()}});
  });
}

// The fast kernels of nn.layer_norm_modulate, nn.layer_norm_modulate_backward, nn.gated_add, nn.gated_add_backward.
const bool registered =
    register_fused_kernel("nn.layer_norm_modulate", DeviceType::CUDA, &layer_norm_modulate) &&
    register_fused_kernel("nn.layer_norm_modulate_backward", DeviceType::CUDA, &layer_norm_modulate_backward) &&
    register_fused_kernel("nn.gated_add", DeviceType::CUDA, &gated_add) &&
    register_fused_kernel("nn.gated_add_backward", DeviceType::CUDA, &gated_add_backward);

}  // namespace

}  // namespace promoe::cuda
