// Differentiable ops on images: 2-D convolution and GroupNorm on NCHW tensors (fused, with
// hand-written backward passes: nn/fused_conv.h, nn/fused_group_norm.h), nearest 2x upsampling,
// and the composed versions the gradient checks compare the fused ones with.
#pragma once
#include "autograd/ops.h"

namespace promoe::nn {

// y (B, O, Ho, Wo) = conv(x (B, C, H, W), weight (O, C, kh, kw)) + bias (O, or undefined), the same
// stride and zero padding on both axes, as torch.nn.functional.conv2d.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad);

// GroupNorm of x (B, C, ...) in `groups` groups with per-channel weight and bias (C), as
// torch.nn.functional.group_norm.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps);

// Nearest-neighbour upsampling by 2 of x (B, C, H, W) -> (B, C, 2H, 2W): every pixel repeated in a
// 2 x 2 block (F.interpolate(scale_factor=2, mode="nearest")). A broadcast and a copy; its gradient
// sums each block.
Tensor upsample_nearest2x(const Tensor& x);

// Pixel-major patches: (Ho, Wo, B, kh*kw*C) of x (H, W, B, C), taps in (ky, kx, c) order, zero
// outside the image (see fused::patch_index). Pixel-major because each gathered row is then a
// whole pixel of the batch (B * C contiguous values): the gather runs Ho*Wo*kh*kw row copies
// whatever the batch. Composed from differentiable primitives.
Tensor image_patches(const Tensor& x, int64_t kh, int64_t kw, int64_t stride, int64_t pad);

// The composed versions (for gradient checks): conv2d as image_patches and a linear layer,
// group_norm as a layer_norm over group rows and a broadcast affine.
Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad);
Tensor group_norm_reference(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps);

}  // namespace promoe::nn
