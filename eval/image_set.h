// Labelled image sets for the feature network and `promoe eval`, in the layout `promoe train` uses:
// images (N, C, S, S) f32 in [-1, 1] (byte v -> v / 127.5 - 1), smaller images centred on a black
// (-1) border of side S. Sources: a directory of MNIST-family IDX files, a .npz (arr_0 uint8
// (N, H, W[, C]), optional arr_1 integer labels, the ADM evaluator convention), a .safetensors
// ("images" or "samples" f32 (N, C, H, W) in [-1, 1], optional "labels"), or a PNG grid written by
// promoe (one row per class). Every loader rejects malformed input with one line naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::eval {

struct ImageSet {
  Tensor images;  // (N, C, S, S) f32 in [-1, 1]
  Tensor labels;  // (N) i64, or undefined when the source has none
  std::string source;
  int64_t size() const { return images.size(0); }
  bool labelled() const { return labels.defined(); }
};

// The layout a consumer expects: C channels of side S.
struct ImageLayout {
  int64_t channels = 1, size = 32;
};

// Bytes laid out (N, H, W, C) into an ImageSet of `layout` (H, W <= S, padded centrally).
ImageSet images_from_bytes(const uint8_t* bytes, int64_t n, int64_t h, int64_t w, int64_t c, const ImageLayout& layout,
                           const std::string& source);

// The split of an MNIST-family directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
// "fashion-mnist" names Debian's dataset-fashion-mnist directory.
ImageSet load_idx_split(const std::string& dir, bool train, const ImageLayout& layout, int64_t limit = -1);

// A file of images as described above, chosen by its extension (.npz, .safetensors, .png). A PNG
// grid (tiles of side S, `grid_pad` pixels apart) with num_classes rows is labelled by row.
ImageSet load_image_file(const std::string& path, const ImageLayout& layout, int64_t num_classes, int64_t grid_pad = 2);

// Throws unless every label is in [0, num_classes) (sets without labels pass).
void check_labels(const ImageSet& set, int64_t num_classes);

// `count` distinct indices of [0, n) drawn without replacement from `seed` (all of them, permuted,
// when count == n).
std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed);
ImageSet subset(const ImageSet& set, const std::vector<int64_t>& indices);

}  // namespace promoe::eval
