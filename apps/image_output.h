// Writing decoded images (N, C, H, W) in [-1, 1] by the output file's extension: a .png grid, an
// .npz evaluation set in the ADM convention (arr_0 uint8 N x H x W x C, quantised by
// io/pixel_bytes.h: clamp(127.5 x + 128, 0, 255) truncated, NaN as 0; arr_1 the labels where there
// are any), or a
// .safetensors file of the float images (tensor `images`, plus `labels`).
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace promoe::apps {

// True for the extensions write_images knows.
bool is_image_output(const std::string& path);
// `labels` (N) i64 or undefined; `columns` is the PNG grid's width in images.
void write_images(const std::string& path, const Tensor& images, const Tensor& labels, int64_t columns);

// The ADM byte values of images (N, C, H, W) as (N, H, W, C) i64, the form io::write_npz stores
// as '|u1'.
Tensor adm_pixel_bytes(const Tensor& images);

}  // namespace promoe::apps
