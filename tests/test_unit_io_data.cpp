// io/idx, io/fashion_mnist, io/npy and io/latents: crafted files (plain and gzipped), their
// errors, and the real Fashion-MNIST test split when Debian's dataset-fashion-mnist is installed.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>

#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "io/latents.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"

using namespace promoe;
using namespace promoe::io;
using promoe::test::TempDir;
using promoe::test::write_bytes;

namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s = {0, 0, 8, char(dims.size())};
  for (uint32_t d : dims) s += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  return s + data;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

}  // namespace

TEST_CASE("IDX files read plain and gzipped, with max_items") {
  TempDir dir("idx");
  std::string pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  write_bytes(dir.file("img"), idx_bytes({3, 2, 2}, pixels));
  write_gz(dir.file("img.gz"), idx_bytes({3, 2, 2}, pixels));
  CHECK_FALSE(is_gzip_file(dir.file("img")));
  CHECK(is_gzip_file(dir.file("img.gz")));
  for (const char* name : {"img", "img.gz"}) {
    IdxArray a = read_idx(dir.file(name));
    CHECK(a.dims == std::vector<int64_t>{3, 2, 2});
    CHECK(a.data == std::vector<uint8_t>(pixels.begin(), pixels.end()));
    IdxArray b = read_idx(dir.file(name), 2);
    CHECK(b.dims == std::vector<int64_t>{2, 2, 2});
    CHECK(b.data == std::vector<uint8_t>(pixels.begin(), pixels.begin() + 8));
  }
  write_gz(dir.file("lab.gz"), idx_bytes({4}, {0, 9, 3, 3}));
  CHECK(read_idx(dir.file("lab.gz")).data == std::vector<uint8_t>{0, 9, 3, 3});
}

TEST_CASE("malformed IDX files are reported") {
  TempDir dir("idx_bad");
  write_bytes(dir.file("trunc"), idx_bytes({3, 28, 28}, std::string(100, 'x')));
  CHECK(error_of([&] { read_idx(dir.file("trunc")); }).find("truncated: expected 2352 bytes of image data, got 100") !=
        std::string::npos);
  write_gz(dir.file("trunc.gz"), idx_bytes({5}, {1, 2}));
  CHECK(error_of([&] { read_idx(dir.file("trunc.gz")); }).find("truncated: expected 5 bytes of label data, got 2") !=
        std::string::npos);
  // A gzip stream cut in the middle reads as truncated data, not as a crash.
  std::string noise(2 * 784, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = char((i * 2654435761u) >> 13);  // barely compressible
  write_gz(dir.file("whole.gz"), idx_bytes({2, 28, 28}, noise));
  std::string gz = promoe::test::read_bytes(dir.file("whole.gz"));
  write_bytes(dir.file("cut.gz"), gz.substr(0, gz.size() / 2));
  std::string cut = error_of([&] { read_idx(dir.file("cut.gz")); });
  CHECK_MESSAGE(cut.find("truncated: expected 1568 bytes of image data") != std::string::npos, cut);
  CHECK(cut.find("gzip-compressed") != std::string::npos);

  write_bytes(dir.file("magic"), std::string("\x01\x00\x08\x01\x00\x00\x00\x01z", 9));
  CHECK(error_of([&] { read_idx(dir.file("magic")); }).find("bad magic number") != std::string::npos);
  write_bytes(dir.file("type"), std::string("\x00\x00\x0d\x01\x00\x00\x00\x01zzzz", 12));
  CHECK(error_of([&] { read_idx(dir.file("type")); }).find("not supported") != std::string::npos);
  write_bytes(dir.file("extra"), idx_bytes({2}, {1, 2, 3}));
  CHECK(error_of([&] { read_idx(dir.file("extra")); }).find("trailing bytes") != std::string::npos);
  CHECK(error_of([&] { read_idx(dir.file("none")); }).find("no such file") != std::string::npos);
}

TEST_CASE("Fashion-MNIST loads padded, scaled tensors from crafted files") {
  TempDir dir("fmnist");
  std::string img(2 * 784, '\0');
  img[0] = char(255);            // image 0, pixel (0, 0)
  img[784 + 28 + 1] = char(51);  // image 1, pixel (1, 1)
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes({2, 28, 28}, img));
  write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({2}, {9, 0}));  // plain files work too
  CHECK(fashion_mnist_available(dir.path.string(), Split::Test));
  CHECK_FALSE(fashion_mnist_available(dir.path.string(), Split::Train));
  LabelledImages d = load_fashion_mnist(Split::Test, dir.path.string());
  CHECK(d.images.shape() == Shape{2, 1, 32, 32});
  CHECK(d.labels.to_vector<int64_t>() == std::vector<int64_t>{9, 0});
  std::vector<float> x = d.images.to_vector<float>();
  CHECK(x[0] == -1.0f);           // padding
  CHECK(x[2 * 32 + 2] == 1.0f);   // 255 -> 1
  CHECK(x[2 * 32 + 3] == -1.0f);  // 0 -> -1
  CHECK(x[1024 + 3 * 32 + 3] == doctest::Approx(51 / 127.5 - 1));
  CHECK(load_fashion_mnist(Split::Test, dir.path.string(), 1).labels.to_vector<int64_t>() == std::vector<int64_t>{9});

  write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({3}, {9, 0, 1}));
  CHECK(error_of([&] { load_fashion_mnist(Split::Test, dir.path.string()); }).find("holds 2 images but") !=
        std::string::npos);
  CHECK(error_of([&] { load_fashion_mnist(Split::Train, dir.file("nowhere")); }) ==
        "Fashion-MNIST not found at " + dir.file("nowhere") +
            ": install Debian's dataset-fashion-mnist or pass --data");
  CHECK(std::string(fashion_mnist_class_names()[9]) == "Ankle boot");
  CHECK(parse_split("train") == Split::Train);
  CHECK_THROWS_AS(parse_split("val"), Error);
}

TEST_CASE("the real Fashion-MNIST test split (Debian dataset-fashion-mnist)") {
  if (!fashion_mnist_available()) {
    MESSAGE("skipped: Fashion-MNIST not installed at " << kFashionMnistDir);
    return;
  }
  LabelledImages d = load_fashion_mnist(Split::Test);
  REQUIRE(d.images.shape() == Shape{10000, 1, 32, 32});
  REQUIRE(d.labels.shape() == Shape{10000});
  std::vector<float> x = d.images.to_vector<float>();
  CHECK(*std::min_element(x.begin(), x.end()) == -1.0f);
  CHECK(*std::max_element(x.begin(), x.end()) == 1.0f);
  bool border = true;
  for (int64_t i = 0; i < 10000; ++i)
    for (int64_t k = 0; k < 32; ++k) border = border && x[i * 1024 + k] == -1.0f && x[i * 1024 + 31 * 32 + k] == -1.0f;
  CHECK(border);
  std::vector<int64_t> count(10, 0);
  bool in_range = true;
  for (int64_t y : d.labels.to_vector<int64_t>()) {
    in_range = in_range && y >= 0 && y < 10;
    if (y >= 0 && y < 10) ++count[size_t(y)];
  }
  CHECK(in_range);
  CHECK(count == std::vector<int64_t>(10, 1000));  // the test split is balanced
  CHECK(load_fashion_mnist(Split::Train, kFashionMnistDir, 64).images.shape() == Shape{64, 1, 32, 32});
}

TEST_CASE(".npy files round trip and crafted ones are checked") {
  TempDir dir("npy");
  Tensor base = raw::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  write_npy(dir.file("f.npy"), raw::transpose(base, 0, 1));
  Tensor f = read_npy(dir.file("f.npy"));
  CHECK(f.shape() == Shape{3, 2});
  CHECK(f.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK((promoe::test::read_bytes(dir.file("f.npy")).size() - 24) % 64 == 0);  // data 64-byte aligned
  write_npy(dir.file("i.npy"), raw::from_vector<int64_t>({5, -7}, {2}));
  CHECK(read_npy(dir.file("i.npy")).to_vector<int64_t>() == std::vector<int64_t>{5, -7});
  write_npy(dir.file("s.npy"), raw::scalar(2.5, DType::F64));
  CHECK(read_npy(dir.file("s.npy")).dim() == 0);

  // Hand-made files as NumPy writes them: '<i4' (widened), format version 2.0 (4-byte length).
  auto npy = [](int major, const std::string& dict, const std::string& data) {
    std::string h = dict + "\n";
    std::string s = std::string("\x93NUMPY", 6) + char(major) + '\0';
    uint32_t n = uint32_t(h.size());
    s.append(reinterpret_cast<const char*>(&n), major == 1 ? 2 : 4);
    return s + h + data;
  };
  int32_t i4[3] = {1, -2, 30};
  write_bytes(dir.file("i4.npy"), npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                                      std::string(reinterpret_cast<char*>(i4), 12)));
  Tensor t = read_npy(dir.file("i4.npy"));
  CHECK(t.dtype() == DType::I64);
  CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{1, -2, 30});
  float f4[2] = {0.5f, 2};
  write_bytes(dir.file("v2.npy"), npy(2, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2)}",
                                      std::string(reinterpret_cast<char*>(f4), 8)));
  CHECK(read_npy(dir.file("v2.npy")).to_vector<float>() == std::vector<float>{0.5f, 2});

  auto err = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    return error_of([&] { read_npy(dir.file(name)); });
  };
  std::string d8(8, '\0');
  CHECK(err("fo", npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", d8)).find("Fortran-order") !=
        std::string::npos);
  CHECK(err("be", npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", d8))
            .find("unsupported dtype '>f4'") != std::string::npos);
  CHECK(err("tr", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", d8))
            .find("truncated: expected 12 bytes") != std::string::npos);
  CHECK(err("mg", "PK\x03\x04 not numpy at all").find("missing the \\x93NUMPY magic") != std::string::npos);
  CHECK(err("sh", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", d8)).find("not a tuple") !=
        std::string::npos);
  CHECK(err("nd", npy(1, "{'fortran_order': False, 'shape': (2,), }", d8)).find("no 'descr' entry") !=
        std::string::npos);
}

TEST_CASE(".npy images parse from memory at any byte alignment, as the same file reads") {
  TempDir dir("npy_memory");
  write_npy(dir.file("d.npy"), raw::from_vector<double>({0.25, -3, 7}, {3}));
  const std::string file = promoe::test::read_bytes(dir.file("d.npy"));
  CHECK(read_npy(dir.file("d.npy")).to_vector<double>() == std::vector<double>{0.25, -3, 7});
  for (size_t shift = 0; shift < 8; ++shift) {
    CAPTURE(shift);
    const std::string buf = std::string(shift, 'x') + file;
    const auto* at = reinterpret_cast<const uint8_t*>(buf.data()) + shift;
    CHECK(parse_npy(at, file.size(), "image").to_vector<double>() == std::vector<double>{0.25, -3, 7});
    CHECK(error_of([&] { parse_npy(at, file.size() - 1, "member d"); }) ==
          "member d: truncated: expected 24 bytes of data for shape [3], got 23");
  }
  CHECK(error_of([&] { parse_npy(nullptr, 0, "empty"); }).find("empty: not a .npy file") == 0);
}

TEST_CASE("latent data sets load from safetensors or .npy pairs") {
  TempDir dir("latents");
  Tensor x = raw::arange(0, 2 * 4 * 2 * 2, 1, DType::F32);
  x = raw::reshape(x, {2, 4, 2, 2});
  write_safetensors(dir.file("lat.safetensors"),
                    NamedTensors{{"latents", x}, {"labels", raw::from_vector<float>({3, 999}, {2})}});
  LatentDataset a = load_latents(dir.file("lat.safetensors"));
  CHECK(a.latents.shape() == Shape{2, 4, 2, 2});
  CHECK(a.labels.to_vector<int64_t>() == std::vector<int64_t>{3, 999});

  write_npy(dir.file("latents.npy"), x);
  write_npy(dir.file("labels.npy"), raw::from_vector<int64_t>({1, 0}, {2}));
  LatentDataset b = load_latents(dir.path.string());  // directory form
  CHECK(b.latents.to_vector<float>() == x.to_vector<float>());
  CHECK(b.labels.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(load_latents(dir.file("latents.npy")).labels.numel() == 2);

  write_npy(dir.file("bad_labels.npy"), raw::from_vector<int64_t>({1, 0, 2}, {3}));
  CHECK(error_of([&] {
          load_latents(dir.file("latents.npy"), dir.file("bad_labels.npy"));
        }).find("2 latents but 3 labels") != std::string::npos);
  write_npy(dir.file("neg.npy"), raw::from_vector<int64_t>({1, -1}, {2}));
  CHECK(error_of([&] { load_latents_npy(dir.file("latents.npy"), dir.file("neg.npy")); }).find("label -1 at index 1") !=
        std::string::npos);
  write_safetensors(dir.file("flat.safetensors"),
                    NamedTensors{{"latents", raw::zeros({2, 4})}, {"labels", raw::zeros({2}, DType::I64)}});
  CHECK(error_of([&] { load_latents(dir.file("flat.safetensors")); }).find("(N, C, H, W)") != std::string::npos);
  write_safetensors(dir.file("nolab.safetensors"), NamedTensors{{"latents", x}});
  CHECK(error_of([&] { load_latents(dir.file("nolab.safetensors")); }).find("has no tensor named labels") !=
        std::string::npos);
  CHECK(error_of([&] { check_latent_dataset(a, "a", 10); }).find("label 999 at index 1 is outside [0, 10)") !=
        std::string::npos);
}
