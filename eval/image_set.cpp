// Loading labelled image sets from IDX directories and image files.
#include "eval/image_set.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "io/npz.h"
#include "io/pixel_bytes.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace promoe::eval {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    std::string p = (std::filesystem::path(dir) / (stem + ext)).string();
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  PROMOE_FAIL("image set ", dir, ": no ", stem, "[.gz] (expected an MNIST-family IDX directory)");
}

// (N, C, H, W) f32 in [-1, 1] from a safetensors file, padded to the layout like bytes are.
ImageSet from_float_images(const Tensor& t, const ImageLayout& layout, const std::string& source) {
  PROMOE_CHECK(t.dim() == 4 && t.size(1) == layout.channels, "image set ", source, ": expected images (N, ",
               layout.channels, ", H, W), got ", describe(t));
  const int64_t n = t.size(0), h = t.size(2), w = t.size(3), c = t.size(1);
  std::vector<float> v = t.to_vector<float>();
  std::vector<uint8_t> bytes(v.size());
  // Stored as bytes the way promoe's PNG and .npz writers quantise them (io/pixel_bytes.h).
  for (size_t i = 0; i < v.size(); ++i) {
    PROMOE_CHECK(std::isfinite(v[i]) && v[i] >= -1.0f - 1e-3f && v[i] <= 1.0f + 1e-3f, "image set ", source, ": value ",
                 v[i], " at flat index ", i, " is not a finite number in [-1, 1]");
    bytes[i] = io::pixel_byte(v[i]);
  }
  // (N, C, H, W) -> (N, H, W, C)
  std::vector<uint8_t> hwc(bytes.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) hwc[(i * h * w + p) * c + ch] = bytes[(i * c + ch) * h * w + p];
  return images_from_bytes(hwc.data(), n, h, w, c, layout, source);
}

ImageSet load_safetensors_images(const std::string& path, const ImageLayout& layout) {
  io::SafeTensors f = io::read_safetensors(path);
  const char* key = f.has("images") ? "images" : "samples";
  PROMOE_CHECK(f.has(key), "image set ", path, ": no tensor named 'images' or 'samples'");
  ImageSet s = from_float_images(f.get(key), layout, path);
  if (f.has("labels")) {
    s.labels = f.get_index("labels");
    PROMOE_CHECK(s.labels.dim() == 1 && s.labels.size(0) == s.size(), "image set ", path, ": labels ",
                 describe(s.labels), " do not match ", s.size(), " images");
  }
  return s;
}

// arr_0: bytes (N, H, W[, C]); arr_1 (optional): labels (N).
ImageSet load_npz_images(const std::string& path, const ImageLayout& layout) {
  std::map<std::string, Tensor> m = io::read_npz(path);
  PROMOE_CHECK(m.count("arr_0"), "image set ", path, ": no arr_0 (expected uint8 images (N, H, W, C))");
  const Tensor& a = m.at("arr_0");
  PROMOE_CHECK(a.dtype() == DType::I64, "image set ", path, ": arr_0 must hold uint8 pixels, got ", describe(a));
  PROMOE_CHECK(a.dim() == 3 || a.dim() == 4, "image set ", path, ": arr_0 must be (N, H, W, C) or (N, H, W), got ",
               shape_str(a.shape()));
  const int64_t* v = a.data<int64_t>();
  std::vector<uint8_t> bytes(size_t(a.numel()));
  for (int64_t i = 0; i < a.numel(); ++i) {
    PROMOE_CHECK(v[i] >= 0 && v[i] <= 255, "image set ", path, ": arr_0 value ", v[i], " at flat index ", i,
                 " is not a byte");
    bytes[i] = uint8_t(v[i]);
  }
  ImageSet s =
      images_from_bytes(bytes.data(), a.size(0), a.size(1), a.size(2), a.dim() == 4 ? a.size(3) : 1, layout, path);
  if (m.count("arr_1")) {
    s.labels = io::to_index_tensor(m.at("arr_1"), path + " arr_1");
    PROMOE_CHECK(s.labels.dim() == 1 && s.labels.size(0) == s.size(), "image set ", path, ": arr_1 ",
                 shape_str(s.labels.shape()), " does not hold one label per image (", s.size(), ")");
  }
  return s;
}

// A grid of tiles of side S with `pad` pixels around and between them (io::image_grid's layout),
// rows = classes as `promoe sample` writes it: labelled by row when there is one row per class.
ImageSet load_png_grid(const std::string& path, const ImageLayout& layout, int64_t pad, int64_t num_classes) {
  const io::Image img = io::read_png(path, layout.channels);
  const int64_t S = layout.size, cell = S + pad;
  PROMOE_CHECK(img.width >= cell + pad && img.height >= cell + pad && (img.width - pad) % cell == 0 &&
                   (img.height - pad) % cell == 0,
               "image set ", path, ": a ", img.width, "x", img.height, " PNG is not a grid of ", S, "x", S,
               " tiles with ", pad, "-pixel gaps");
  const int64_t cols = (img.width - pad) / cell, rows = (img.height - pad) / cell, C = layout.channels;
  std::vector<uint8_t> bytes(size_t(rows * cols * S * S * C));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x)
          for (int64_t ch = 0; ch < C; ++ch)
            bytes[((((r * cols + c) * S + y) * S) + x) * C + ch] =
                img.pixels[((pad + r * cell + y) * img.width + pad + c * cell + x) * C + ch];
  ImageSet s = images_from_bytes(bytes.data(), rows * cols, S, S, C, layout, path);
  if (rows == num_classes) {
    s.labels = Tensor::empty({rows * cols}, DType::I64);
    for (int64_t i = 0; i < rows * cols; ++i) s.labels.data<int64_t>()[i] = i / cols;
  }
  return s;
}

}  // namespace

ImageSet images_from_bytes(const uint8_t* bytes, int64_t n, int64_t h, int64_t w, int64_t c, const ImageLayout& layout,
                           const std::string& source) {
  const int64_t S = layout.size;
  PROMOE_CHECK(c == layout.channels, "image set ", source, ": images have ", c, " channels, expected ",
               layout.channels);
  PROMOE_CHECK(h >= 1 && w >= 1 && h <= S && w <= S, "image set ", source, ": images are ", h, "x", w,
               ", expected at most ", S, "x", S, " (smaller ones are padded)");
  PROMOE_CHECK(n >= 1, "image set ", source, ": holds no images");
  const int64_t top = (S - h) / 2, left = (S - w) / 2;
  Tensor images = raw::full({n, c, S, S}, -1.0);
  float* x = images.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t col = 0; col < w; ++col)
        for (int64_t ch = 0; ch < c; ++ch)
          x[((i * c + ch) * S + r + top) * S + col + left] =
              float(bytes[((i * h + r) * w + col) * c + ch]) / 127.5f - 1.0f;
  return {images, Tensor(), source};
}

ImageSet load_idx_split(const std::string& dir_arg, bool train, const ImageLayout& layout, int64_t limit) {
  const std::string dir = dir_arg == "fashion-mnist" ? io::kFashionMnistDir : dir_arg;
  const std::string prefix = train ? "train" : "t10k";
  const std::string img_path = find_idx(dir, prefix + "-images-idx3-ubyte");
  const std::string lab_path = find_idx(dir, prefix + "-labels-idx1-ubyte");
  io::IdxArray img = io::read_idx(img_path, limit), lab = io::read_idx(lab_path, limit);
  PROMOE_CHECK(img.dims.size() == 3 || img.dims.size() == 4, "image set ", img_path,
               ": expected dims (N, H, W) or (N, H, W, C), got ", shape_str(img.dims));
  PROMOE_CHECK(lab.dims.size() == 1 && lab.dims[0] == img.dims[0], "image set ", lab_path, ": ", shape_str(lab.dims),
               " labels for ", img.dims[0], " images");
  const int64_t c = img.dims.size() == 4 ? img.dims[3] : 1;
  ImageSet s = images_from_bytes(img.data.data(), img.dims[0], img.dims[1], img.dims[2], c, layout, img_path);
  s.labels = Tensor::empty({img.dims[0]}, DType::I64);
  std::copy(lab.data.begin(), lab.data.end(), s.labels.data<int64_t>());
  s.source = dir + (train ? " (train)" : " (test)");
  return s;
}

ImageSet load_image_file(const std::string& path, const ImageLayout& layout, int64_t num_classes, int64_t grid_pad) {
  std::error_code ec;
  PROMOE_CHECK(std::filesystem::is_regular_file(path, ec), "image set ", path, ": no such file");
  if (ends_with(path, ".safetensors")) return load_safetensors_images(path, layout);
  if (ends_with(path, ".npz")) return load_npz_images(path, layout);
  if (ends_with(path, ".png")) return load_png_grid(path, layout, grid_pad, num_classes);
  PROMOE_FAIL("image set ", path, ": unknown file type (expected .npz, .safetensors or .png)");
}

void check_labels(const ImageSet& set, int64_t num_classes) {
  if (!set.labelled()) return;
  const int64_t* y = set.labels.data<int64_t>();
  for (int64_t i = 0; i < set.labels.numel(); ++i)
    PROMOE_CHECK(y[i] >= 0 && y[i] < num_classes, "image set ", set.source, ": label ", y[i], " at index ", i,
                 " is not a class in [0, ", num_classes, ")");
}

std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed) {
  PROMOE_CHECK(count >= 0 && count <= n, "sample_indices: cannot draw ", count, " of ", n);
  // A seeded Fisher-Yates shuffle on Philox draws, truncated to `count`.
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  Generator gen(seed);
  Tensor u = gen.uniform({std::max<int64_t>(count, 1)}, 0, 1, DType::F64);
  const double* r = u.data<double>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t j = i + std::min<int64_t>(n - i - 1, int64_t(r[i] * double(n - i)));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(count);
  return idx;
}

ImageSet subset(const ImageSet& set, const std::vector<int64_t>& indices) {
  Tensor idx = raw::from_vector<int64_t>(indices, {int64_t(indices.size())});
  ImageSet s{raw::index_select(set.images, 0, idx), Tensor(), set.source};
  if (set.labelled()) s.labels = raw::index_select(set.labels, 0, idx);
  return s;
}

}  // namespace promoe::eval
