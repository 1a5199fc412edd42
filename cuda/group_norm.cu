// GroupNorm on CUDA for contiguous x (B, C, S): each group row (image, group) goes to a warp (up to
// 1024 values) or a block, as in cuda/rowwise.cu: the LayerNorm statistics of cuda/row_stats.cuh,
// then the per-channel affine. Backward: the input gradient per group row, and the weight and bias
// gradients per channel row over the batch, reduced in a fixed order (deterministic). Math in
// cuda/group_norm_math.cuh.
#include "cuda/group_norm_math.cuh"
#include "cuda/row_stats.cuh"
#include "tensor/fused.h"

namespace promoe::cuda {

namespace {

template <typename T, int NL>
__global__ void group_norm_kernel(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t G,
                                  int64_t Cg, int64_t S, double eps) {
  const int64_t n = Cg * S;
  PROMOE_ROW_LOOP(r, rows) {
    const RowStats s = layer_norm_row_stats<NL>(x, r, n, eps, lane, smem, mean, rstd);
    gnmath::group_norm_apply(y + r * n, x + r * n, w, b, n, S, (r % G) * Cg, s.mean, s.rstd, lane, NL);
  }
}

template <typename T, int NL>
__global__ void group_norm_backward_kernel(T* gx, const T* g, const T* x, const T* mean, const T* rstd, const T* w,
                                           int64_t rows, int64_t G, int64_t Cg, int64_t S) {
  const int64_t n = Cg * S;
  PROMOE_ROW_LOOP(r, rows) {
    const double mu = mean[r], inv = rstd[r];
    const int64_t c0 = (r % G) * Cg;
    double sh, shx;
    gnmath::lane_group_grad_sums(x + r * n, g + r * n, w, n, S, c0, mu, inv, lane, NL, &sh, &shx);
    sh = group_reduce<NL>(sh, SumOp{}, smem) / double(n);
    shx = group_reduce<NL>(shx, SumOp{}, smem) / double(n);
    gnmath::group_grad_apply(gx + r * n, x + r * n, g + r * n, w, n, S, c0, mu, inv, sh, shx, lane, NL);
  }
}

// Row c: channel c's weight and bias gradients.
template <typename T, int NL>
__global__ void group_norm_channel_kernel(T* gw, T* gb, const T* g, const T* x, const T* mean, const T* rstd, int64_t B,
                                          int64_t C, int64_t S, int64_t G) {
  PROMOE_ROW_LOOP(c, C) {
    double sgx, sg;
    gnmath::lane_channel_sums(g, x, mean, rstd, c, B, C, S, G, lane, NL, &sgx, &sg);
    sgx = group_reduce<NL>(sgx, SumOp{}, smem);
    sg = group_reduce<NL>(sg, SumOp{}, smem);
    if (lane == 0) {
      gw[c] = T(sgx);
      gb[c] = T(sg);
    }
  }
}

void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                const Tensor& bias, int64_t groups, double eps) {
  const int64_t B = x.size(0), C = x.size(1), S = x.size(2), Cg = C / groups, rows = B * groups;
  PROMOE_CUDA_DISPATCH_FLOAT(
      x.dtype(), "group_norm",
      PROMOE_ROW_LAUNCH(group_norm_kernel, "group_norm", rows, Cg * S, x.data<T>(), weight.data<T>(), bias.data<T>(),
                        out.data<T>(), mean.data<T>(), rstd.data<T>(), rows, groups, Cg, S, eps));
}

void group_norm_backward(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& g,
                         const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                         int64_t groups) {
  const int64_t B = x.size(0), C = x.size(1), S = x.size(2), Cg = C / groups, rows = B * groups;
  PROMOE_CUDA_DISPATCH_FLOAT(x.dtype(), "group_norm_backward", {
    PROMOE_ROW_LAUNCH(group_norm_backward_kernel, "group_norm_backward", rows, Cg * S, grad_x.data<T>(), g.data<T>(),
                      x.data<T>(), mean.data<T>(), rstd.data<T>(), weight.data<T>(), rows, groups, Cg, S);
    PROMOE_ROW_LAUNCH(group_norm_channel_kernel, "group_norm_backward (weight, bias)", C, B * S, grad_weight.data<T>(),
                      grad_bias.data<T>(), g.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), B, C, S, groups);
  });
}

// The fast kernels of nn.group_norm and nn.group_norm_backward.
const bool registered = register_fused_kernel("nn.group_norm", DeviceType::CUDA, &group_norm) &&
                        register_fused_kernel("nn.group_norm_backward", DeviceType::CUDA, &group_norm_backward);

}  // namespace

}  // namespace promoe::cuda
