// io/safetensors and io/atomic_file: round trips, every malformed-file error, atomic replacement,
// and the committed parity cases (written by PyTorch's safetensors).
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"

using namespace promoe;
using namespace promoe::io;
using promoe::test::TempDir;

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

// A safetensors file from a raw header and data section.
std::string st_file(const std::string& header, const std::string& data = "") {
  uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

}  // namespace

TEST_CASE("safetensors round trip keeps dtypes, shapes, values, order and metadata") {
  TempDir dir("st_roundtrip");
  Tensor base = raw::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor f32_t = raw::transpose(base, 0, 1);  // non-contiguous (3, 2) view
  REQUIRE_FALSE(f32_t.is_contiguous());
  Tensor f64 = raw::from_vector<double>({0.1, -2.5e300, 3}, {3});
  Tensor i64 = raw::from_vector<int64_t>({-1, 0, int64_t(1) << 40, 7}, {2, 1, 2});
  Tensor bf16 = raw::to(raw::from_vector<float>({1.5f, -3.25f, 1e-3f}, {3}), DType::BF16);
  Tensor scalar = raw::scalar(0.75);
  Tensor empty = raw::zeros({0, 4});
  Tensor sliced = raw::narrow(raw::from_vector<float>({9, 8, 7, 6}, {4}), 0, 1, 2);  // view with an offset
  NamedTensors in = {{"w.t", f32_t},   {"f64", f64},    {"idx", i64},   {"bf", bf16},
                     {"loss", scalar}, {"none", empty}, {"mid", sliced}};
  write_safetensors(dir.file("a.safetensors"), in, {{"config", "{\"depth\": 2}"}, {"objective", "rf"}});

  std::string bytes = promoe::test::read_bytes(dir.file("a.safetensors"));
  uint64_t hlen;
  std::memcpy(&hlen, bytes.data(), 8);
  CHECK(hlen % 8 == 0);
  CHECK(dir.listing() == "a.safetensors ");

  SafeTensors st = read_safetensors(dir.file("a.safetensors"));
  CHECK(st.tensors.size() == in.size());
  CHECK(st.order == std::vector<std::string>{"w.t", "f64", "idx", "bf", "loss", "none", "mid"});
  CHECK(st.get("w.t").shape() == Shape{3, 2});
  CHECK(st.get("w.t").to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(st.get("f64").dtype() == DType::F64);
  CHECK(st.get("f64").to_vector<double>() == f64.to_vector<double>());
  CHECK(st.get("idx").dtype() == DType::I64);
  CHECK(st.get("idx").shape() == Shape{2, 1, 2});
  CHECK(st.get("idx").to_vector<int64_t>() == i64.to_vector<int64_t>());
  CHECK(st.get("bf").dtype() == DType::BF16);
  CHECK(std::memcmp(st.get("bf").raw_data(), bf16.raw_data(), 6) == 0);
  CHECK(st.get("loss").dim() == 0);
  CHECK(st.get("loss").item() == 0.75);
  CHECK(st.get("none").shape() == Shape{0, 4});
  CHECK(st.get("mid").to_vector<float>() == std::vector<float>{8, 7});
  CHECK(st.metadata("objective") == "rf");
  CHECK(st.has_metadata("config"));
  CHECK_FALSE(st.has("nope"));
  CHECK(error_of([&] { st.get("nope"); }) == "file " + dir.file("a.safetensors") + " has no tensor named nope");
  CHECK(error_of([&] { st.metadata("seed"); }) == "file " + dir.file("a.safetensors") + " has no metadata key seed");

  // The map overload and overwriting an existing file.
  write_safetensors(dir.file("a.safetensors"), std::map<std::string, Tensor>{{"only", scalar}});
  SafeTensors again = read_safetensors(dir.file("a.safetensors"));
  CHECK(again.order == std::vector<std::string>{"only"});
  CHECK(again.meta.empty());
}

TEST_CASE("index tensors read as I64 from I64 or exactly integral F32") {
  TempDir dir("st_index");
  write_safetensors(dir.file("i.safetensors"), NamedTensors{{"a", raw::from_vector<int64_t>({3, 1}, {2})},
                                                            {"b", raw::from_vector<float>({3, 1000}, {2})},
                                                            {"c", raw::from_vector<float>({3, 1.5f}, {2})}});
  SafeTensors st = read_safetensors(dir.file("i.safetensors"));
  CHECK(st.get_index("a").to_vector<int64_t>() == std::vector<int64_t>{3, 1});
  Tensor b = st.get_index("b");
  CHECK(b.dtype() == DType::I64);
  CHECK(b.to_vector<int64_t>() == std::vector<int64_t>{3, 1000});
  CHECK(error_of([&] { st.get_index("c"); }).find("element 1 is 1.5") != std::string::npos);
}

TEST_CASE("malformed safetensors files give one-line errors naming the file and the problem") {
  TempDir dir("st_bad");
  auto expect = [&](const std::string& name, const std::string& bytes, const std::string& problem) {
    std::string path = dir.file(name);
    promoe::test::write_bytes(path, bytes);
    promoe::test::expect_one_line_error([&] { read_safetensors(path); }, {path, problem});
  };
  const std::string ok_entry = R"("t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  const std::string data8(8, '\0');

  CHECK(error_of([&] { read_safetensors(dir.file("missing.safetensors")); }).find("no such file") != std::string::npos);
  expect("short", "abcd", "shorter than the 8-byte header length");
  std::string huge = st_file("{}");
  huge[1] = 0x10;  // header length 4098 in a 10-byte file
  expect("huge", huge, "goes beyond the end of the file");
  expect("json", st_file(R"({"t": {"dtype": )"), "malformed JSON header");
  expect("array", st_file("[1, 2]"), "header is not a JSON object");
  expect("dtype", st_file(R"({"t": {"dtype": "F8_E5M2", "shape": [2], "data_offsets": [0, 2]}})", data8),
         "unknown dtype 'F8_E5M2'");
  expect("range", st_file(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", data8), "out of range");
  expect("neg", st_file(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [-1, 7]}})", data8),
         "two non-negative integers");
  expect("size", st_file(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", data8), "needs 12");
  expect("overlap",
         st_file("{" + ok_entry + R"(, "u": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                 std::string(12, '\0')),
         "overlap");
  expect("trunc", st_file("{" + ok_entry + "}", "abc"), "truncated data");
  expect("meta", st_file(R"({"__metadata__": {"seed": 3}})"), "is not a string");
  expect("shape", st_file(R"({"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 0]}})"), "shape entry");
  // The same pieces, put together correctly, read fine.
  promoe::test::write_bytes(dir.file("ok"), st_file("{" + ok_entry + "}", data8));
  CHECK(read_safetensors(dir.file("ok")).get("t").numel() == 2);
  promoe::test::write_bytes(dir.file("empty"), st_file("{}"));
  CHECK(read_safetensors(dir.file("empty")).tensors.empty());
}

TEST_CASE("write_safetensors rejects bad input and leaves nothing behind") {
  TempDir dir("st_write_bad");
  Tensor t = raw::zeros({2});
  CHECK(error_of([&] {
          write_safetensors(dir.file("d.safetensors"), NamedTensors{{"a", t}, {"a", t}});
        }).find("duplicate tensor name a") != std::string::npos);
  CHECK(error_of([&] {
          write_safetensors(dir.file("d.safetensors"), NamedTensors{{"a", Tensor()}});
        }).find("undefined") != std::string::npos);
  CHECK(error_of([&] {
          write_safetensors(dir.file("no/such/dir/x.safetensors"), NamedTensors{{"a", t}});
        }).find("cannot create temp file") != std::string::npos);
  CHECK(dir.listing().empty());
}

TEST_CASE("atomic writer keeps the old file when the producer fails midway") {
  TempDir dir("atomic");
  std::string path = dir.file("ckpt.bin");
  write_file_atomic(path, std::string_view("old contents"));
  CHECK(promoe::test::read_bytes(path) == "old contents");

  CHECK_THROWS_WITH(write_file_atomic(path,
                                      [](const ByteSink& sink) {
                                        sink("new half", 8);
                                        throw Error("simulated crash mid-write");
                                      }),
                    "simulated crash mid-write");
  CHECK(promoe::test::read_bytes(path) == "old contents");
  CHECK(dir.listing() == "ckpt.bin ");
  CHECK(atomic_temp_path(path) == path + ".tmp." + std::to_string(::getpid()));

  write_file_atomic(path, std::string_view("new contents"));
  CHECK(promoe::test::read_bytes(path) == "new contents");
  CHECK(dir.listing() == "ckpt.bin ");
}

TEST_CASE("atomic writer reports a failing write (file size limit) and cleans up") {
  TempDir dir("atomic_fsize");
  std::string path = dir.file("big.bin");
  write_file_atomic(path, std::string_view("old"));
  rlimit saved;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // make the write fail with EFBIG instead of killing us
  rlimit small = saved;
  small.rlim_cur = 4096;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string big(1 << 20, 'x');
  std::string msg = error_of([&] { write_file_atomic(path, big); });
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  CHECK_MESSAGE(msg.find("cannot write " + path) != std::string::npos, msg);
  CHECK(promoe::test::read_bytes(path) == "old");
  CHECK(dir.listing() == "big.bin ");
}

TEST_CASE("every committed parity case reads without error") {
  namespace fs = std::filesystem;
  fs::path cases = fs::path(PROMOE_SOURCE_DIR) / "tests" / "cases";
  int n = 0;
  if (fs::is_directory(cases))
    for (const auto& e : fs::directory_iterator(cases)) {
      if (e.path().extension() != ".safetensors") continue;
      CAPTURE(e.path().string());
      SafeTensors st = read_safetensors(e.path().string());
      CHECK_FALSE(st.tensors.empty());
      CHECK(nlohmann::json::parse(st.metadata("config")).is_object());
      CHECK(st.get_index("input.y").dtype() == DType::I64);
      for (const auto& [name, t] : st.tensors) CHECK((t.dtype() == DType::F32 || t.dtype() == DType::I64));
      ++n;
    }
  if (n == 0) MESSAGE("no parity cases in " << cases.string());
}

TEST_CASE("F16 tensors written by the safetensors library read as their exact float32 values") {
  const std::string path = std::string(PROMOE_SOURCE_DIR) + "/tests/data/vae/two_blocks_fp16/f16_values.safetensors";
  SafeTensorsReader reader(path);
  CHECK(reader.dtype("half") == DType::F32);  // as loaded
  const SafeTensors f = read_safetensors(path);
  const std::vector<float> half = f.get("half").to_vector<float>(), want = f.get("float").to_vector<float>();
  REQUIRE(half.size() == 12);
  REQUIRE(half.size() == want.size());
  for (size_t i = 0; i < half.size(); ++i) {
    CAPTURE(i);
    CAPTURE(want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(half[i]));
    } else {  // bit for bit: -0 stays -0, subnormals exact
      uint32_t a, b;
      std::memcpy(&a, &half[i], 4);
      std::memcpy(&b, &want[i], 4);
      CHECK(a == b);
    }
  }
  // A truncated F16 tensor claims 2 bytes per element.
  TempDir dir("f16");
  const std::string header = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  test::write_bytes(dir.file("bad.safetensors"), bytes + header + std::string(4, '\0'));
  CHECK(error_of([&] { read_safetensors(dir.file("bad.safetensors")); }).find("needs 6") != std::string::npos);
}
