// Convolution and max pooling on pixel-major images (H, W, B, C), composed from differentiable
// primitives. The k x k patches are gathered as rows (im2col through index_select; out-of-image
// taps read one appended zero row); a convolution is then one linear layer over the patch rows,
// and a max pool folds the window's taps, strided views of the image, with elementwise maxima.
// Pixel-major because each gathered row is then a whole pixel of the batch (B * C contiguous
// values): the gather runs Ho*Wo*k*k row copies whatever the batch, not one per image.
// The runtime has no convolution op; the feature network of eval/ is its only user.
#pragma once
#include "tensor/tensor.h"

namespace promoe::eval {

// (Ho, Wo, B, k*k*C) patches of x (H, W, B, C), taps in (ky, kx, c) order: tap (ky, kx) of output
// (oy, ox) reads input pixel (oy*stride - pad + ky, ox*stride - pad + kx), or zero outside.
// Ho = (H + 2*pad - k) / stride + 1, likewise Wo.
Tensor image_patches(const Tensor& x, int64_t k, int64_t stride, int64_t pad);

// y (Ho, Wo, B, out) = patches(x) . W^T + b for weight (out, k, k, C) (the taps' order) and bias
// (out) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad);

// Max over non-overlapping k x k windows: (H, W, B, C) -> (H/k, W/k, B, C); H and W multiples of k.
// Ties send the gradient to both taps, half each (the elementwise maximum's rule).
Tensor max_pool2d(const Tensor& x, int64_t k);

}  // namespace promoe::eval
