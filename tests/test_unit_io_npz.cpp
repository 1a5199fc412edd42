// .npz archives: files numpy wrote (stored and deflated, tests/data/make_npz.py), round trips of
// what promoe writes, and hostile files (truncation, corrupt data, lying sizes).
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "expect_error.h"
#include "io/npz.h"
#include "io/zip_reader.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"

using namespace promoe;
using test::expect_error;

namespace {

std::string data_file(const std::string& name) {
  return (std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / name).string();
}

// The arrays of make_npz.py, checked element by element.
void check_numpy_arrays(const std::map<std::string, Tensor>& m) {
  REQUIRE(m.size() == 5);
  const Tensor& images = m.at("arr_0");
  CHECK(images.dtype() == DType::I64);
  CHECK(images.shape() == Shape{3, 4, 4, 1});
  std::vector<int64_t> px = images.to_vector<int64_t>();
  for (int64_t i = 0; i < 48; ++i) CHECK(px[i] == i * 5 % 256);
  CHECK(m.at("arr_1").to_vector<int64_t>() == std::vector<int64_t>{0, 9, 3});
  const Tensor& floats = m.at("floats");
  CHECK(floats.dtype() == DType::F32);
  CHECK(floats.shape() == Shape{2, 3});
  std::vector<float> f = floats.to_vector<float>();
  for (int i = 0; i < 6; ++i) CHECK(f[i] == doctest::Approx(-1.0 + 0.4 * i).epsilon(1e-6));
  CHECK(m.at("doubles").dtype() == DType::F64);
  CHECK(m.at("doubles").to_vector<double>() == std::vector<double>{0.5, -2.25});
  CHECK(m.at("int32s").to_vector<int64_t>() == std::vector<int64_t>{-7, 2147483647});
}

}  // namespace

TEST_CASE("npz: reads what np.savez and np.savez_compressed wrote") {
  check_numpy_arrays(io::read_npz(data_file("npz_stored.npz")));
  check_numpy_arrays(io::read_npz(data_file("npz_deflated.npz")));
}

TEST_CASE("npz: the fuzz seeds' members: bytes, a scalar, '<i4' at an odd offset, a 2.0 header, zip64 records") {
  for (const char* name : {"members_stored.npz", "members_zip64_deflated.npz"}) {
    CAPTURE(name);
    const auto m =
        io::read_npz((std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "fuzz" / "seeds" / "npz" / name).string());
    REQUIRE(m.size() == 4);
    CHECK(m.at("bytes").shape() == Shape{2, 3});
    CHECK(m.at("bytes").to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 127, 128, 255});
    CHECK(m.at("scalar").dim() == 0);
    CHECK(m.at("scalar").to_vector<int64_t>() == std::vector<int64_t>{3});
    CHECK(m.at("odd").to_vector<int64_t>() == std::vector<int64_t>{-1, 7});
    CHECK(m.at("v2").to_vector<double>() == std::vector<double>{0.5});
  }
}

TEST_CASE("npz: write then read gives the same arrays, stored or deflated, with byte members") {
  test::TempDir dir("npz_roundtrip");
  Tensor images = raw::from_vector<int64_t>({0, 17, 255, 128, 3, 4}, {1, 2, 3, 1});
  Tensor labels = raw::from_vector<int64_t>({7}, {1});
  Tensor values = raw::transpose(raw::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1);  // a strided view
  for (bool compress : {false, true}) {
    CAPTURE(compress);
    const std::string path = dir.file(compress ? "d.npz" : "s.npz");
    io::write_npz(path, {{"arr_0", images, true}, {"arr_1", labels}, {"values", values}}, compress);
    auto m = io::read_npz(path);
    REQUIRE(m.size() == 3);
    CHECK(m.at("arr_0").shape() == images.shape());
    CHECK(m.at("arr_0").to_vector<int64_t>() == images.to_vector<int64_t>());
    CHECK(m.at("arr_1").to_vector<int64_t>() == std::vector<int64_t>{7});
    CHECK(m.at("values").shape() == Shape{3, 2});
    CHECK(m.at("values").to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  }
  expect_error(
      [&] {
        io::write_npz(dir.file("bad.npz"), {{"arr_0", raw::from_vector<int64_t>({256}, {1}), true}});
      },
      {"arr_0", "256", "not a byte"});
  CHECK(!std::filesystem::exists(dir.file("bad.npz")));
}

TEST_CASE("npz: members are parsed in memory, with no temporary file, a bad one named by archive and member") {
  test::TempDir dir("npz_memory");
  const std::string path = dir.file("a.npz");
  io::write_npz(path, {{"arr_0", raw::from_vector<float>({1, 2}, {2})}});
  // A temporary directory that does not exist is never needed.
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string saved = tmpdir ? tmpdir : "";
  ::setenv("TMPDIR", (dir.path / "missing").c_str(), 1);
  std::map<std::string, Tensor> m;
  std::string error;
  try {
    m = io::read_npz(path);
  } catch (const std::exception& e) {
    error = e.what();
  }
  tmpdir ? ::setenv("TMPDIR", saved.c_str(), 1) : ::unsetenv("TMPDIR");
  CHECK(error == "");
  CHECK(m.count("arr_0") == 1);
  // The member's shape made (3,), its CRC-32 recomputed in the local header and the directory.
  std::string bytes = test::read_bytes(path);
  bytes[bytes.find("(2,)") + 1] = '3';
  const size_t data = 30 + 9, size = bytes.find("PK\x01\x02") - data;  // one member, "arr_0.npy"
  const uint32_t crc = io::crc32_update(0, bytes.data() + data, size);
  for (size_t at : {size_t(14), bytes.find("PK\x01\x02") + 16}) std::memcpy(&bytes[at], &crc, 4);
  test::write_bytes(path, bytes);
  const std::string msg = expect_error([&] { io::read_npz(path); },
                                       {".npz file " + path + ": member arr_0.npy: truncated: expected 12 bytes"});
  CHECK(msg.find(".npy file") == std::string::npos);
}

TEST_CASE("npz: hostile files give one clear error") {
  test::TempDir dir("npz_hostile");
  const std::string good = test::read_bytes(data_file("npz_deflated.npz"));
  const std::string stored = test::read_bytes(data_file("npz_stored.npz"));
  auto write = [&](const std::string& name, const std::string& bytes) {
    test::write_bytes(dir.file(name), bytes);
    return dir.file(name);
  };
  expect_error([&] { io::read_npz(dir.file("missing.npz")); }, {"missing.npz", "no such file"});
  expect_error([&] { io::read_npz(write("short.npz", "PK")); }, {"too short"});
  expect_error([&] { io::read_npz(write("text.npz", std::string(100, 'x'))); }, {"not a zip archive"});
  // Cut in the middle: the end record is gone.
  expect_error([&] { io::read_npz(write("cut.npz", good.substr(0, good.size() / 2))); }, {"not a zip archive"});
  // A flipped byte inside the first stored member's array data: the CRC catches it.
  std::string flipped = stored;
  flipped[200] = char(flipped[200] ^ 0x55);
  expect_error([&] { io::read_npz(write("flipped.npz", flipped)); }, {"CRC-32 mismatch"});
  // Central directory entries whose sizes lie: find the first entry and change its sizes.
  const size_t cd = good.find("PK\x01\x02");
  REQUIRE(cd != std::string::npos);
  std::string huge = good;
  huge[cd + 24] = huge[cd + 25] = huge[cd + 26] = char(0xFF);
  huge[cd + 27] = char(0x7F);  // uncompressed size ~2 GiB from a few hundred bytes
  expect_error([&] { io::read_npz(write("huge.npz", huge)); }, {"arr_0", "claims"});
  std::string overrun = good;
  overrun[cd + 20] = overrun[cd + 21] = char(0xFF);  // compressed size beyond the file
  expect_error([&] { io::read_npz(write("overrun.npz", overrun)); }, {"beyond the end of the file"});
  std::string method = good;
  method[cd + 10] = 14;  // LZMA
  expect_error([&] { io::read_npz(write("method.npz", method)); }, {"compression method 14"});
  // A member that is not an array.
  std::string renamed = stored;
  const size_t name = renamed.find("arr_0.npy", renamed.find("PK\x01\x02"));
  renamed.replace(name, 9, "arr_0.txt");
  expect_error([&] { io::read_npz(write("renamed.npz", renamed)); }, {"arr_0.txt", "not a .npy array"});
}
