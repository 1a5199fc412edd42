// Crafted files whose headers lie about sizes: every size product is overflow-checked, and memory
// follows the bytes a file really holds, never what its header claims.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "expect_error.h"
#include "io/checked_size.h"
#include "io/idx.h"
#include "io/latents.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "test_unit_io_util.h"

using namespace promoe;
using promoe::test::expect_error;
using promoe::test::TempDir;
using promoe::test::write_bytes;

namespace {

std::string le64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// A safetensors file from a JSON header and a data section.
std::string safetensors_bytes(const nlohmann::json& header, const std::string& data) {
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  return le64(h.size()) + h + data;
}

nlohmann::json entry(const char* dtype, std::vector<uint64_t> shape, uint64_t begin, uint64_t end) {
  return {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data = "") {
  std::string s = {0, 0, 8, char(dims.size())};
  for (uint32_t d : dims) s += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  return s + data;
}

std::string gzip_bytes(const std::string& raw) {
  uLongf n = compressBound(raw.size()) + 32;
  std::string out(n, '\0');
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: a gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = uInt(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(n);
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data = "") {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  h.append(63 - (10 + h.size()) % 64, ' ');
  h += '\n';
  const uint16_t len = uint16_t(h.size());
  return std::string("\x93NUMPY\x01\x00", 8) + std::string(reinterpret_cast<const char*>(&len), 2) + h + data;
}

// Runs `f` in a child process whose address space may grow by at most `budget_bytes`; true when
// the child finished `f` (a promoe::Error counts as finished: it is the refusal we want) without
// exhausting that budget.
bool runs_within(uint64_t budget_bytes, const std::function<void()>& f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    const rlim_t limit = rlim_t(pages * uint64_t(::sysconf(_SC_PAGESIZE)) + budget_bytes);
    rlimit rl{limit, limit};
    ::setrlimit(RLIMIT_AS, &rl);
    try {
      f();
    } catch (const Error&) {
    } catch (...) {
      ::_exit(1);  // std::bad_alloc: the header's claim was allocated
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("safetensors: a byte count that wraps 64 bits is refused, not loaded") {
  TempDir dir("hostile_st");
  // I64 [2^61 + 1]: 8 * (2^61 + 1) wraps to 8, the 8 bytes present.
  write_bytes(dir.file("a.safetensors"),
              safetensors_bytes({{"x", entry("I64", {(uint64_t(1) << 61) + 1}, 0, 8)}}, std::string(8, '\0')));
  expect_error([&] { io::read_safetensors(dir.file("a.safetensors")); }, {"a.safetensors", "'x'", "2^62"});
  // F32 [2^31, 2^31]: 4 * 2^62 wraps to 0.
  write_bytes(dir.file("b.safetensors"),
              safetensors_bytes({{"x", entry("F32", {uint64_t(1) << 31, uint64_t(1) << 31}, 0, 0)}}, ""));
  expect_error([&] { io::read_safetensors(dir.file("b.safetensors")); }, {"b.safetensors", "'x'", "2^62"});
}

TEST_CASE("latents whose labels claim 2^62 elements in an empty range are refused, not copied") {
  TempDir dir("hostile_latents");
  const std::string lat(4 * 32 * 32 * 4, '\0');
  nlohmann::json h = {{"latents", entry("F32", {4, 1, 32, 32}, 0, lat.size())},
                      {"labels", entry("F32", {uint64_t(1) << 62}, lat.size(), lat.size())}};
  write_bytes(dir.file("l.safetensors"), safetensors_bytes(h, lat));
  expect_error([&] { io::load_latents(dir.file("l.safetensors")); }, {"l.safetensors", "labels"});
}

TEST_CASE("IDX: a dims product that wraps 64 bits is refused") {
  TempDir dir("hostile_idx_wrap");
  write_bytes(dir.file("w.idx"), idx_bytes({1u << 18, 1u << 18, 1u << 28}));
  expect_error([&] { io::read_idx(dir.file("w.idx")); }, {"w.idx", "2^62"});
}

TEST_CASE("IDX: a header claiming 2.3 GB costs the bytes the file holds, plain and gzip-compressed") {
  TempDir dir("hostile_idx_claim");
  const std::string claim = idx_bytes({3000000, 28, 28}, std::string(784, '\x7f'));
  write_bytes(dir.file("plain.idx"), claim);
  write_bytes(dir.file("zipped.idx.gz"), gzip_bytes(claim));
  for (const char* name : {"plain.idx", "zipped.idx.gz"}) {
    CAPTURE(name);
    const std::string path = dir.file(name);
    expect_error([&] { io::read_idx(path); }, {name, "truncated", "expected 2352000000 bytes", "got 784"});
    CHECK(runs_within(uint64_t(512) << 20, [&] { io::read_idx(path); }));
  }
}

TEST_CASE(".npy: a shape whose product overflows int64 is refused") {
  TempDir dir("hostile_npy");
  write_bytes(dir.file("o.npy"), npy_bytes("<f4", "(281474976710656, 281474976710656)"));
  expect_error([&] { io::read_npy(dir.file("o.npy")); }, {"o.npy", "2^62"});
}

TEST_CASE("checked size arithmetic: results up to 2^62 pass, anything beyond throws naming the source") {
  const uint64_t max = io::kMaxFileSize;
  CHECK(io::checked_mul(uint64_t(1) << 31, uint64_t(1) << 31, "f") == max);
  CHECK(io::checked_add(max - 1, 1, "f") == max);
  expect_error([] { io::checked_mul(uint64_t(1) << 32, uint64_t(1) << 31, "file f"); }, {"file f", "overflow"});
  expect_error([] { io::checked_add(uint64_t(1) << 62, 1, "file f"); }, {"file f", "overflow"});
  const std::vector<int64_t> ok = {2, 3, 0, 5};
  CHECK(io::checked_numel(ok, "f") == 0);
  // A zero does not excuse the other dims: the runtime's strides multiply them.
  const std::vector<int64_t> huge_but_empty = {0, int64_t(1) << 40, int64_t(1) << 40};
  expect_error([&] { io::checked_numel(huge_but_empty, "file f"); }, {"file f", "2^62"});
  const std::vector<int64_t> negative = {4, -1};
  expect_error([&] { io::checked_numel(negative, "file f"); }, {"file f", "outside"});
}

TEST_CASE("safetensors: a header number beyond 64 bits is a promoe::Error naming the file (found by fuzz_latents)") {
  TempDir dir("hostile_json_number");
  const std::string h = R"({"x":{"dtype":"F32","shape":[46116E60184273879041],"data_offsets":[0,0]}})";
  write_bytes(dir.file("n.safetensors"), le64(h.size()) + h);
  expect_error([&] { io::read_safetensors(dir.file("n.safetensors")); }, {"n.safetensors", "malformed JSON header"});
}
