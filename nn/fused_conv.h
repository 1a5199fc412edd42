// The fused 2-D convolution (tensor/fused.h) on NCHW images with PyTorch's (out, in, kh, kw)
// weights, and its backward. The composed reference gathers the k x k patches as rows (im2col
// through index_select, out-of-image taps reading one appended zero row), multiplies them with the
// weight, and in backward scatters the patch gradients back with index_add (col2im). Fast kernels:
// cpu/conv.cpp (im2col + GEMM in row chunks), cuda/conv.cpp (cuDNN, where the build has it).
#pragma once
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::nn::fused {

// The geometry of one convolution: x (B, C, H, W), weight (O, C, kh, kw), the same stride and
// zero padding on both axes. Output (B, O, Ho, Wo) with Ho = (H + 2 pad - kh) / stride + 1.
struct ConvGeometry {
  int64_t B, C, H, W, O, kh, kw, stride, pad, Ho, Wo;
};
// Checks x and weight and derives the geometry; `op` names the caller in errors.
ConvGeometry conv_geometry(const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad, const char* op);

// For every output pixel (oy, ox) and tap (ky, kx), in that order: the input pixel it reads,
// iy * W + ix with iy = oy * stride - pad + ky, ix = ox * stride - pad + kx, or H * W (the zero
// row) outside the image. (Ho * Wo * kh * kw) i64 on the CPU.
Tensor patch_index(int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t stride, int64_t pad);

// out (B, O, Ho, Wo) = conv(x, weight) + bias; x, weight contiguous, bias (O) contiguous or
// undefined (no bias), out contiguous.
void conv2d_reference(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                      int64_t pad);
inline const FusedOp<decltype(conv2d_reference)> conv2d_op{"nn.conv2d", &conv2d_reference};

// From g = d/d out (contiguous, like out): grad_x (like x), grad_weight (like weight), grad_bias
// (O), each contiguous and written in full, or undefined where that gradient is not wanted.
void conv2d_backward_reference(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias,
                               const Tensor& g, const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad);
inline const FusedOp<decltype(conv2d_backward_reference)> conv2d_backward_op{"nn.conv2d_backward",
                                                                             &conv2d_backward_reference};

// Checked entry points: argument checks, contiguous operands, allocated outputs.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad);
struct Conv2dGrads {
  Tensor x, weight, bias;  // undefined where not asked for
};
Conv2dGrads conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad,
                            bool want_x, bool want_weight, bool want_bias);

}  // namespace promoe::nn::fused
