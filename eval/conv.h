// Convolution and max pooling on pixel-major images (H, W, B, C), composed from differentiable
// primitives: the feature network of eval/ keeps its own layout (its committed weights are
// (out, k, k, C)). A convolution is one linear layer over the patch rows nn::image_patches gathers;
// a max pool folds the window's taps, strided views of the image, with elementwise maxima.
#pragma once
#include "tensor/tensor.h"

namespace promoe::eval {

// y (Ho, Wo, B, out) = nn::image_patches(x) . W^T + b for weight (out, k, k, C) (the taps' order) and bias
// (out) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad);

// Max over non-overlapping k x k windows: (H, W, B, C) -> (H/k, W/k, B, C); H and W multiples of k.
// Ties send the gradient to both taps, half each (the elementwise maximum's rule).
Tensor max_pool2d(const Tensor& x, int64_t k);

}  // namespace promoe::eval
