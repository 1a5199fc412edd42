// Fashion-MNIST (Debian package dataset-fashion-mnist): 28x28 grey images of 10 clothing classes,
// loaded as DiT-ready tensors: zero-padded to 32x32 and scaled to [-1, 1].
#pragma once
#include <array>
#include <string>

#include "tensor/tensor.h"

namespace promoe::io {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr int64_t kFashionMnistClasses = 10;
inline constexpr int64_t kFashionMnistSize = 32;  // after padding

// Class names in label order (0 = T-shirt/top ... 9 = Ankle boot).
const std::array<const char*, 10>& fashion_mnist_class_names();

enum class Split { Train, Test };
// "train" or "test"; throws otherwise.
Split parse_split(const std::string& s);

struct LabelledImages {
  Tensor images;  // (N, 1, 32, 32) f32 in [-1, 1]: x / 127.5 - 1, border of 2 pixels at -1
  Tensor labels;  // (N) i64 in [0, 10)
};

// Loads one split from `dir` ({train,t10k}-{images-idx3,labels-idx1}-ubyte, .gz or plain).
// limit >= 0 keeps only the first `limit` examples. Missing files give
// "Fashion-MNIST not found at DIR: install Debian's dataset-fashion-mnist or pass --data".
LabelledImages load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir, int64_t limit = -1);

// True when both files of `split` exist in `dir`.
bool fashion_mnist_available(const std::string& dir = kFashionMnistDir, Split split = Split::Test);

}  // namespace promoe::io
