// io/image_read and io/image_resample against Pillow (tests/data/images, written by
// tests/twin/make_image_goldens.py): JPEG and PNG files decode to the RGB bytes of Pillow's
// Image.open(f).convert("RGB"), and Pillow's BOX and BICUBIC resize and the ADM centre crop
// give the same bytes, exactly.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "expect_error.h"
#include "io/image_read.h"
#include "io/image_resample.h"
#include "io/npz.h"
#include "test_unit_io_util.h"

using namespace promoe;
using namespace promoe::io;
using promoe::test::TempDir;

namespace {

const std::filesystem::path kImages = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / "images";

const std::map<std::string, Tensor>& goldens() {
  static const std::map<std::string, Tensor> g = read_npz((kImages / "pillow.npz").string());
  return g;
}

const Tensor& golden(const std::string& key) {
  auto it = goldens().find(key);
  REQUIRE_MESSAGE(it != goldens().end(), "pillow.npz has no ", key);
  return it->second;
}

Image to_image(const Tensor& hwc) {
  REQUIRE(hwc.dim() == 3);
  Image img{hwc.size(1), hwc.size(0), hwc.size(2), {}};
  for (int64_t v : hwc.to_vector<int64_t>()) img.pixels.push_back(uint8_t(v));
  return img;
}

// The number of bytes that differ, and the largest difference.
struct Diff {
  int64_t count = 0, max = 0;
};

Diff compare(const Image& got, const Tensor& want) {
  REQUIRE(want.dim() == 3);
  REQUIRE(got.height == want.size(0));
  REQUIRE(got.width == want.size(1));
  REQUIRE(got.channels == want.size(2));
  const std::vector<int64_t> w = want.to_vector<int64_t>();
  Diff d;
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t e = std::abs(int64_t(got.pixels[i]) - w[i]);
    d.count += e != 0;
    d.max = std::max(d.max, e);
  }
  return d;
}

const char* const kTree[] = {"n01/a_420.JPEG", "n01/b_444.jpg",     "n01/c_progressive.jpeg",
                             "n01/d_grey.jpg", "n02/e_cmyk.jpg",    "n02/f_rgb.png",
                             "n02/g_rgba.png", "n02/h_palette.png", "n02/i_grey.PNG"};

}  // namespace

TEST_CASE("JPEG and PNG files decode to the RGB bytes Pillow's convert('RGB') gives") {
  for (const char* name : kTree) {
    CAPTURE(name);
    const Image img = read_rgb_image((kImages / "tree" / name).string());
    const Diff d = compare(img, golden(std::string(name) + ".rgb"));
    CHECK_MESSAGE(d.count == 0, d.count, " bytes differ, by up to ", d.max);
  }
}

TEST_CASE("BOX and BICUBIC resizing give Pillow's bytes") {
  for (int i = 0; i < 5; ++i) {
    const std::string key = "resize" + std::to_string(i);
    CAPTURE(key);
    const Image in = to_image(golden(key + ".in"));
    const std::vector<int64_t> size = golden(key + ".size").to_vector<int64_t>();
    const Diff box = compare(resize_image(in, size[0], size[1], ResampleFilter::Box), golden(key + ".box"));
    const Diff cubic = compare(resize_image(in, size[0], size[1], ResampleFilter::Bicubic), golden(key + ".bicubic"));
    CHECK_MESSAGE(box.count == 0, "BOX: ", box.count, " bytes differ, by up to ", box.max);
    CHECK_MESSAGE(cubic.count == 0, "BICUBIC: ", cubic.count, " bytes differ, by up to ", cubic.max);
  }
}

TEST_CASE("the ADM centre crop gives the bytes of center_crop_arr over Pillow") {
  for (const char* name : kTree)
    for (int64_t size : {16, 12}) {
      CAPTURE(name);
      CAPTURE(size);
      const Image rgb = to_image(golden(std::string(name) + ".rgb"));
      const Image crop = adm_center_crop(rgb, size);
      const Diff d = compare(crop, golden(std::string(name) + ".crop" + std::to_string(size)));
      CHECK_MESSAGE(d.count == 0, d.count, " bytes differ, by up to ", d.max);
    }
}

TEST_CASE("ImageNet-sized images crop to 256 as Pillow does, hash for hash") {
  // The pattern make_image_goldens.py's large_pattern draws: ((31 x + 17 y + 71 c) xor (x y)) mod 256.
  for (int k = 0; k < 3; ++k) {
    const std::string key = "large" + std::to_string(k);
    CAPTURE(key);
    const std::vector<int64_t> hw = golden(key + ".size").to_vector<int64_t>();
    Image img{hw[1], hw[0], 3, {}};
    for (int64_t y = 0; y < img.height; ++y)
      for (int64_t x = 0; x < img.width; ++x)
        for (int64_t c = 0; c < 3; ++c) img.pixels.push_back(uint8_t(((x * 31 + y * 17 + c * 71) ^ (x * y)) & 255));
    const Image crop = adm_center_crop(img, 256);
    REQUIRE(crop.width == 256);
    REQUIRE(crop.height == 256);
    Image every7{37, 37, 3, {}};
    for (int64_t y = 0; y < 256; y += 7)
      for (int64_t x = 0; x < 256; x += 7)
        for (int64_t c = 0; c < 3; ++c) every7.pixels.push_back(crop.pixels[size_t((y * 256 + x) * 3 + c)]);
    const Diff d = compare(every7, golden(key + ".crop256"));
    CHECK_MESSAGE(d.count == 0, d.count, " of the sampled bytes differ, by up to ", d.max);
    uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a over every byte of the crop
    for (uint8_t b : crop.pixels) h = (h ^ b) * 0x100000001B3ull;
    CHECK(int64_t(h) == golden(key + ".fnv").to_vector<int64_t>()[0]);
  }
}

TEST_CASE("an image already at the crop size is left as it is, and flipping mirrors the columns") {
  Image img{3, 3, 1, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  CHECK(adm_center_crop(img, 3).pixels == img.pixels);
  CHECK(flip_horizontal(img).pixels == std::vector<uint8_t>{3, 2, 1, 6, 5, 4, 9, 8, 7});
  // Python's round() halves to even: an 11 x 8 image cropped to 12 is resized to 16 x 12, not 17.
  Image wide{11, 8, 1, std::vector<uint8_t>(88, 7)};
  CHECK(adm_center_crop(wide, 12).width == 12);
}

TEST_CASE("bad image files are refused with an error naming the file") {
  TempDir dir("image_read");
  const std::string jpeg = test::read_bytes((kImages / "tree" / "n01" / "a_420.JPEG").string());
  auto refused = [&](const std::string& name, const std::string& bytes, const std::string& needle) {
    CAPTURE(name);
    test::write_bytes(dir.file(name), bytes);
    test::expect_one_line_error([&] { read_rgb_image(dir.file(name)); }, {dir.file(name), needle});
  };
  refused("empty.jpg", "", "neither a JPEG nor a PNG");
  refused("text.jpg", "hello, world", "neither a JPEG nor a PNG");
  refused("half.jpg", jpeg.substr(0, jpeg.size() / 2), "Premature end of JPEG file");
  refused("header_only.jpg", jpeg.substr(0, 20), "cannot decode");
  // A start of frame claiming 65500 x 65500 pixels: refused before anything is allocated for it.
  std::string huge = jpeg;
  const std::string::size_type sof = huge.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  huge[sof + 5] = huge[sof + 7] = char(0xFF);
  huge[sof + 6] = huge[sof + 8] = char(0xDC);
  refused("huge.jpg", huge, "bytes can hold");
  CHECK_THROWS_WITH_AS(read_rgb_image(dir.file("absent.jpg")), doctest::Contains("absent.jpg"), Error);
}
