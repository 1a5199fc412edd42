// Fashion-MNIST loading: two IDX files per split, checked against each other, padded and scaled.
#include "io/fashion_mnist.h"

#include <filesystem>

#include "io/idx.h"

namespace promoe::io {

namespace {

// The file for `stem` in `dir`, gzipped or not; empty when neither exists.
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    std::string p = (std::filesystem::path(dir) / (stem + ext)).string();
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  return {};
}

std::string prefix(Split split) { return split == Split::Train ? "train" : "t10k"; }

}  // namespace

const std::array<const char*, 10>& fashion_mnist_class_names() {
  static const std::array<const char*, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Split parse_split(const std::string& s) {
  if (s == "train") return Split::Train;
  if (s == "test") return Split::Test;
  PROMOE_FAIL("unknown data split '", s, "' (expected train or test)");
}

bool fashion_mnist_available(const std::string& dir, Split split) {
  return !find_file(dir, prefix(split) + "-images-idx3-ubyte").empty() &&
         !find_file(dir, prefix(split) + "-labels-idx1-ubyte").empty();
}

LabelledImages load_fashion_mnist(Split split, const std::string& dir, int64_t limit) {
  std::string img_path = find_file(dir, prefix(split) + "-images-idx3-ubyte");
  std::string lab_path = find_file(dir, prefix(split) + "-labels-idx1-ubyte");
  PROMOE_CHECK(!img_path.empty() && !lab_path.empty(), "Fashion-MNIST not found at ", dir,
               ": install Debian's dataset-fashion-mnist or pass --data");

  IdxArray img = read_idx(img_path, limit);
  IdxArray lab = read_idx(lab_path, limit);
  PROMOE_CHECK(img.dims.size() == 3 && img.dims[1] == 28 && img.dims[2] == 28, "Fashion-MNIST images ", img_path,
               ": expected dims (N, 28, 28), got ", shape_str(img.dims));
  PROMOE_CHECK(lab.dims.size() == 1, "Fashion-MNIST labels ", lab_path, ": expected dims (N), got ",
               shape_str(lab.dims));
  PROMOE_CHECK(img.dims[0] == lab.dims[0], "Fashion-MNIST: ", img_path, " holds ", img.dims[0], " images but ",
               lab_path, " holds ", lab.dims[0], " labels");

  const int64_t n = img.dims[0], S = kFashionMnistSize, pad = (S - 28) / 2;
  LabelledImages out{Tensor::empty({n, 1, S, S}, DType::F32), Tensor::empty({n}, DType::I64)};
  float* x = out.images.data<float>();
  std::fill(x, x + n * S * S, -1.0f);  // pixel value 0 after scaling
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < 28; ++r)
      for (int64_t c = 0; c < 28; ++c)
        x[(i * S + r + pad) * S + c + pad] = float(img.data[(i * 28 + r) * 28 + c]) / 127.5f - 1.0f;
  int64_t* y = out.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    PROMOE_CHECK(lab.data[i] < kFashionMnistClasses, "Fashion-MNIST labels ", lab_path, ": label ", int(lab.data[i]),
                 " at index ", i, " is not a class in [0, 10)");
    y[i] = lab.data[i];
  }
  return out;
}

}  // namespace promoe::io
