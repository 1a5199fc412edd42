// Precomputed latent data sets, for users who bring their own (e.g. ImageNet VAE) latents:
// either one safetensors file with `latents` (N, C, H, W) and `labels` (N), or a pair of .npy
// files (latents '<f4', labels '<i8' or '<i4').
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace promoe::io {

struct LatentDataset {
  Tensor latents;  // (N, C, H, W) f32
  Tensor labels;   // (N) i64, non-negative
};

// From a .safetensors file (labels may be I64 or exactly integral F32).
LatentDataset load_latents_safetensors(const std::string& path);

// From two .npy files.
LatentDataset load_latents_npy(const std::string& latents_path, const std::string& labels_path);

// Dispatch on `path`: a .safetensors file; a .npy file of latents with `labels.npy` beside it
// (or labels_path); or a directory holding latents.safetensors or latents.npy + labels.npy.
LatentDataset load_latents(const std::string& path, const std::string& labels_path = "");

// Checks shapes, dtypes and label range (labels < num_classes when num_classes > 0).
void check_latent_dataset(const LatentDataset& d, const std::string& source, int64_t num_classes = -1);

}  // namespace promoe::io
