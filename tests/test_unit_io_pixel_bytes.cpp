// io/pixel_bytes: the exact bytes of the one quantisation the PNG grids, the .npz evaluation sets
// and the ablation scorer share, clamp(127.5 x + 128, 0, 255) in f32, truncated, NaN 0, and the
// (N, H, W, C) order of an image batch's bytes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "io/pixel_bytes.h"
#include "tensor/ops.h"

using namespace promoe;

TEST_CASE("pixel_byte: the range's ends, its middle and quarter steps") {
  CHECK(io::pixel_byte(-1.0f) == 0);   // 0.5 -> 0
  CHECK(io::pixel_byte(1.0f) == 255);  // 255.5 clamps to 255
  CHECK(io::pixel_byte(0.0f) == 128);
  CHECK(io::pixel_byte(-0.0f) == 128);
  CHECK(io::pixel_byte(0.5f) == 191);   // 191.75
  CHECK(io::pixel_byte(-0.5f) == 64);   // 64.25
  CHECK(io::pixel_byte(0.25f) == 159);  // 159.875
  CHECK(io::pixel_byte(-0.25f) == 96);  // 96.125
  CHECK(io::pixel_byte(0.75f) == 223);  // 223.625
}

TEST_CASE("pixel_byte: each byte's centre, (k + 0.5 - 128) / 127.5, truncates to k") {
  for (int k = 0; k < 256; ++k) {
    CAPTURE(k);
    CHECK(io::pixel_byte(float((k + 0.5 - 128.0) / 127.5)) == k);
  }
}

TEST_CASE("pixel_byte: f32 arithmetic, whose rounding lifts values a hair below a step onto it") {
  // 127.5 * x + 128 is 126.99999994 in exact arithmetic, 127 once rounded to f32.
  CHECK(io::pixel_byte(-1.0f / 127.5f) == 127);
  CHECK(io::pixel_byte(1.0f / 127.5f) == 129);
  // A tiny negative value is 128 (exact arithmetic truncates 127.9999... to 127).
  CHECK(io::pixel_byte(-1e-10f) == 128);
  CHECK(io::pixel_byte(-std::numeric_limits<float>::denorm_min()) == 128);
}

TEST_CASE("pixel_byte: out of range and infinite values clamp, NaN is 0") {
  CHECK(io::pixel_byte(1.5f) == 255);
  CHECK(io::pixel_byte(-1.5f) == 0);
  CHECK(io::pixel_byte(1e30f) == 255);
  CHECK(io::pixel_byte(-1e30f) == 0);
  CHECK(io::pixel_byte(std::numeric_limits<float>::infinity()) == 255);
  CHECK(io::pixel_byte(-std::numeric_limits<float>::infinity()) == 0);
  CHECK(io::pixel_byte(std::numeric_limits<float>::quiet_NaN()) == 0);
  CHECK(io::pixel_byte(-std::numeric_limits<float>::quiet_NaN()) == 0);
}

TEST_CASE("nhwc_pixel_bytes: (N, C, H, W) images of any floating dtype give (N, H, W, C) bytes") {
  // image n, channel c, pixel p holds the value whose byte is 10 n + 3 c + p (+ 100 for n = 1).
  std::vector<double> v;
  std::vector<uint8_t> want(2 * 1 * 2 * 3);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 2; ++p) {
        const int byte = 100 * n + 10 * c + p;
        v.push_back((byte + 0.5 - 128.0) / 127.5);
        want[size_t((n * 2 + p) * 3 + c)] = uint8_t(byte);
      }
  const Tensor images = raw::from_vector<double>(v, {2, 3, 1, 2});
  CHECK(io::nhwc_pixel_bytes(images) == want);
  CHECK(io::nhwc_pixel_bytes(raw::to(images, DType::F32)) == want);
  // A strided view (the pixels stored transposed) reads the same.
  const Tensor swapped = raw::transpose(raw::contiguous(raw::transpose(images, 2, 3)), 2, 3);
  CHECK(io::nhwc_pixel_bytes(swapped) == want);
  CHECK_THROWS_AS(io::nhwc_pixel_bytes(raw::from_vector<int64_t>({1, 2}, {1, 1, 1, 2})), Error);
  CHECK_THROWS_AS(io::nhwc_pixel_bytes(raw::from_vector<float>({0.5f}, {1, 1, 1})), Error);
}
