// io/png and io/csv: grids decode back (stb_image) to the expected sizes and pixels.
#include <doctest/doctest.h>

#include "io/csv.h"
#include "io/png.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image.h>
#pragma GCC diagnostic pop

using namespace promoe;
using namespace promoe::io;
using promoe::test::TempDir;

namespace {

struct Decoded {
  int w = 0, h = 0, c = 0;
  std::vector<uint8_t> px;
  int at(int x, int y, int ch = 0) const { return px[size_t((y * w + x) * c + ch)]; }
};

Decoded decode(const std::string& path) {
  Decoded d;
  unsigned char* p = stbi_load(path.c_str(), &d.w, &d.h, &d.c, 0);
  REQUIRE_MESSAGE(p, "stb_image could not decode " << path);
  d.px.assign(p, p + size_t(d.w) * size_t(d.h) * size_t(d.c));
  stbi_image_free(p);
  return d;
}

}  // namespace

TEST_CASE("a grey image grid decodes to the torchvision layout and byte mapping") {
  TempDir dir("png_grid");
  // 3 images of 4x4, constant values -1, 0 and 1 except one marked pixel; 2 columns -> 2 rows.
  std::vector<float> v(3 * 16);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 16; ++k) v[size_t(i * 16 + k)] = float(i - 1);
  v[16 + 5] = 0.5f;  // image 1, (y=1, x=1)
  v[7] = 7.0f;       // out of range, clamps to 255
  write_image_grid_png(dir.file("grid.png"), raw::from_vector<float>(v, {3, 1, 4, 4}), 2);
  CHECK(dir.listing() == "grid.png ");
  Decoded d = decode(dir.file("grid.png"));
  CHECK(d.w == 2 * (4 + 2) + 2);
  CHECK(d.h == 2 * (4 + 2) + 2);
  CHECK(d.c == 1);
  CHECK(d.at(0, 0) == 0);            // padding
  CHECK(d.at(2, 2) == 0);            // image 0: -1 -> 0
  CHECK(d.at(2 + 3, 2 + 1) == 255);  // image 0, (y=1, x=3): 7 clamps
  CHECK(d.at(8, 2) == 128);          // image 1: 0 -> 128
  CHECK(d.at(9, 3) == 191);          // 127.5 * 0.5 + 128 = 191.75 -> 191
  CHECK(d.at(2, 8) == 255);          // image 2: 1 -> 255
  CHECK(d.at(8, 8) == 0);            // the empty tile stays black
}

TEST_CASE("an RGB grid keeps channels apart") {
  TempDir dir("png_rgb");
  Tensor img = raw::zeros({1, 3, 2, 2});
  raw::fill_(raw::select(img, 1, 0), 1.0);   // red channel = 1
  raw::fill_(raw::select(img, 1, 2), -1.0);  // blue channel = -1
  write_image_grid_png(dir.file("rgb.png"), img, 8, 0);
  Decoded d = decode(dir.file("rgb.png"));
  CHECK(d.w == 2);
  CHECK(d.h == 2);
  CHECK(d.c == 3);
  CHECK(d.at(1, 1, 0) == 255);
  CHECK(d.at(1, 1, 1) == 128);
  CHECK(d.at(1, 1, 2) == 0);
}

TEST_CASE("CSV output quotes labels and prints integers exactly") {
  Tensor m = raw::from_vector<float>({1, 2.5f, 300000, 0}, {2, 2});
  CHECK(matrix_csv(m, {"T-shirt/top", "Bag, large"}, {"e0", "e1"}, "class") ==
        "class,e0,e1\nT-shirt/top,1,2.5\n\"Bag, large\",300000,0\n");
  CHECK(matrix_csv(m, {}, {}) == "1,2.5\n300000,0\n");
  CHECK_THROWS_AS(matrix_csv(m, {"only one"}, {}), Error);
  TempDir dir("csv");
  write_csv(dir.file("m.csv"), m, {}, {"a", "b\"q"});
  CHECK(promoe::test::read_bytes(dir.file("m.csv")) == "a,\"b\"\"q\"\n1,2.5\n300000,0\n");
}
