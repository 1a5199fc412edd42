// io/zip_reader, io/pickle and io/pth: a file torch.save wrote (tests/data/pth/views.pth, from
// tests/twin/make_pth_goldens.py) with every storage type, views, shared storages and non-tensor
// values; the same archive rewritten with zip64 records; and crafted malformed archives and
// pickles, each refused with an error that names the problem.
#include <doctest/doctest.h>

#include <cmath>

#include "expect_error.h"
#include "io/pth.h"
#include "pth_test_util.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"

using namespace promoe;
using promoe::io::PthFile;
using promoe::io::pickle::Kind;
using promoe::test::expect_error;
using promoe::test::PickleWriter;

namespace {

std::string data_file(const std::string& name) { return std::string(PROMOE_SOURCE_DIR) + "/tests/data/pth/" + name; }

const io::pickle::Object& entry(const io::pickle::Object& d, const std::string& key) {
  const io::pickle::Object* o = d.find(key);
  REQUIRE_MESSAGE(o, key);
  return *o;
}

// views.pth's tensors, as make_pth_goldens.py's views_file() builds them.
void check_views(const PthFile& f) {
  const auto& t = entry(f.root(), "tensors");
  auto vec = [&](const std::string& k) { return f.load(entry(t, k)).to_vector<double>(); };
  std::vector<double> big(20);
  for (int i = 0; i < 20; ++i) big[size_t(i)] = i;
  CHECK(vec("f32") == big);
  CHECK(f.load(entry(t, "f32")).shape() == Shape{4, 5});
  CHECK(vec("view") == std::vector<double>{6, 8, 11, 13, 16, 18});  // big[1:, 1::2]
  CHECK(f.load(entry(t, "view")).shape() == Shape{3, 2});
  std::vector<double> tr;
  for (int j = 0; j < 5; ++j)
    for (int i = 0; i < 4; ++i) tr.push_back(i * 5 + j);
  CHECK(vec("t") == tr);
  CHECK(f.load(entry(t, "f64")).dtype() == DType::F64);
  CHECK(vec("f64") == std::vector<double>{0, 0.25, 0.5, 0.75, 1.0, 1.25});
  const std::vector<double> h = vec("f16");
  CHECK(h[0] == 0.5);
  CHECK(h[1] == -2.0);
  CHECK(h[2] == 65504.0);
  CHECK(h[3] == doctest::Approx(6.1035e-05).epsilon(1e-3));  // the smallest normal half
  CHECK(h[4] == doctest::Approx(5.96e-08).epsilon(1e-2));    // the smallest subnormal
  CHECK(std::isinf(h[5]));
  const std::vector<double> b = vec("bf16");
  CHECK(b[0] == 1.0);
  CHECK(b[1] == -3.25);
  CHECK(b[2] == doctest::Approx(1e-3).epsilon(1e-2));
  CHECK(f.load(entry(t, "i64")).dtype() == DType::I64);
  CHECK(f.load(entry(t, "i64")).to_vector<int64_t>() == std::vector<int64_t>{-(int64_t(1) << 40), 0, int64_t(1) << 40});
  CHECK(f.load(entry(t, "i32")).to_vector<int64_t>() == std::vector<int64_t>{-7, 8});
  CHECK(f.load(entry(t, "i16")).to_vector<int64_t>() == std::vector<int64_t>{-300, 300});
  CHECK(f.load(entry(t, "i8")).to_vector<int64_t>() == std::vector<int64_t>{-128, 127});
  CHECK(f.load(entry(t, "u8")).to_vector<int64_t>() == std::vector<int64_t>{0, 255});
  CHECK(f.load(entry(t, "bool")).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(f.load(entry(t, "scalar")).shape().empty());
  CHECK(f.load(entry(t, "scalar")).item() == 2.5);
  CHECK(f.load(entry(t, "empty")).shape() == Shape{0, 3});
  CHECK(vec("param") == std::vector<double>{1, 2});
  CHECK(vec("expanded") == std::vector<double>{1, 2, 3, 1, 2, 3});  // stride 0
  // big, its view and its transpose share one storage.
  CHECK(entry(t, "view").tensor.storage == entry(t, "f32").tensor.storage);
  CHECK(entry(t, "t").tensor.storage == entry(t, "f32").tensor.storage);
  const auto& meta = entry(f.root(), "meta");
  const auto& list = entry(meta, "list");
  REQUIRE(list.kind == Kind::List);
  REQUIRE(list.items.size() == 5);
  CHECK(list.items[0]->integer == 1);
  CHECK(list.items[1]->real == 2.5);
  CHECK(list.items[2]->text == "x");
  CHECK(list.items[3]->kind == Kind::None);
  CHECK((list.items[4]->kind == Kind::Bool && list.items[4]->integer == 1));
  CHECK(entry(meta, "tuple").kind == Kind::Tuple);
  CHECK(entry(meta, "big").integer == int64_t(1) << 40);
  CHECK(entry(meta, "neg").integer == -5);
}

// The members of a zip archive, read back.
std::vector<std::pair<std::string, std::string>> members_of(const std::string& path) {
  io::ZipReader zip(path, "test");
  std::vector<std::pair<std::string, std::string>> out;
  for (const io::ZipMember& m : zip.members()) out.emplace_back(m.name, zip.read_member(m, 1 << 20));
  return out;
}

}  // namespace

TEST_CASE("pth: a file torch.save wrote, and the same archive with zip64 records") {
  check_views(PthFile(data_file("views.pth")));
  test::TempDir dir("pth_zip64");
  const std::string path = dir.file("views64.pth");
  test::write_bytes(path, test::zip_archive(members_of(data_file("views.pth")), true));
  io::ZipReader zip(path, "zip64");
  CHECK(zip.members().size() == members_of(data_file("views.pth")).size());
  check_views(PthFile(path));
}

TEST_CASE("pth: crafted archives are read only as far as their bytes go") {
  test::TempDir dir("pth_crafted");
  int n = 0;
  auto file = [&](const std::string& bytes) {
    const std::string p = dir.file("f" + std::to_string(n++) + ".pth");
    test::write_bytes(p, bytes);
    return p;
  };
  auto archive = [&](const PickleWriter& w, std::vector<std::pair<std::string, std::string>> storages) {
    return file(test::torch_archive(PickleWriter(w).finish(), storages));
  };
  PickleWriter one;
  one.dict().mark().str("w").tensor("0", {2, 3}).setitems();

  // A well-formed one first.
  {
    PthFile f(archive(one, {{"0", test::f32_bytes(6)}}));
    CHECK(f.load(entry(f.root(), "w")).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  }
  expect_error([&] { PthFile(dir.file("missing.pth")); }, {"missing.pth", "no such file"});
  expect_error([&] { PthFile(file("PK")); }, {"too short"});
  expect_error([&] { PthFile(file(std::string(300, 'x'))); }, {"not a zip archive"});
  expect_error([&] { PthFile(file(std::string("\x80\x02\x8a\x0a", 4) + std::string(40, 'x'))); }, {"legacy"});
  expect_error([&] { PthFile(file(test::zip_archive({{"a/other.txt", "x"}}))); }, {"no <name>/data.pkl"});
  // The storage member is missing, one byte short, or the view reaches past it.
  expect_error([&] { PthFile(archive(one, {})); }, {"storage '0'", "archive/data/0"});
  expect_error([&] { PthFile(archive(one, {{"0", test::f32_bytes(6).substr(1)}})); }, {"holds 23 bytes", "needs 24"});
  {
    PickleWriter w;
    w.dict().mark().str("w").tensor("0", "FloatStorage", 6, 2, {2, 3}, {3, 1}).setitems();
    expect_error([&] { PthFile(archive(w, {{"0", test::f32_bytes(6)}})); }, {"reaches element 7", "holds 6"});
  }
  // Sizes whose product or extent would overflow.
  {
    PickleWriter w;
    w.dict().mark().str("w").tensor("0", "FloatStorage", 6, 0, {int64_t(1) << 40, int64_t(1) << 40}, {1, 1}).setitems();
    expect_error([&] { PthFile(archive(w, {{"0", test::f32_bytes(6)}})); }, {"2^62"});
    PickleWriter s;
    s.dict().mark().str("w").tensor("0", "FloatStorage", int64_t(1) << 61, 0, {1}, {1}).setitems();
    expect_error([&] { PthFile(archive(s, {{"0", test::f32_bytes(1)}})); }, {"storage '0'", "2^62"});
  }
  // A flipped byte in the storage: the CRC-32 of the member catches it when the tensor is read.
  {
    std::string bytes = test::torch_archive(PickleWriter(one).finish(), {{"0", test::f32_bytes(6)}});
    const size_t at = bytes.find("archive/data/0") + 14 + 5;
    bytes[at] = char(bytes[at] ^ 0x40);
    PthFile f(file(bytes));
    expect_error([&] { f.load(entry(f.root(), "w")); }, {"archive/data/0", "CRC-32"});
  }
  // Big-endian files are refused.
  expect_error(
      [&] {
        PthFile(file(
            test::zip_archive({{"archive/data.pkl", PickleWriter().dict().finish()}, {"archive/byteorder", "big"}})));
      },
      {"big-endian"});
}

TEST_CASE("pickle: only what a state dict needs, and nothing is run") {
  const std::string what = "test pickle";
  auto parse = [&](const std::string& bytes) { return io::pickle::Pickle(bytes, what); };
  // Unknown globals are named, whatever would be done with them.
  expect_error([&] { parse(PickleWriter().global("os", "system").str("true").op('\x85').op('R').finish()); },
               {"unknown global 'os.system'", "refusing"});
  expect_error([&] { parse(PickleWriter().global("builtins", "eval").finish()); }, {"builtins.eval"});
  expect_error([&] { parse(PickleWriter().global("torch", "load").finish()); }, {"torch.load"});
  // Allowed globals are not callable with other arguments, or at all.
  expect_error([&] { parse(PickleWriter().global("torch", "FloatStorage").op(')').op('R').finish()); },
               {"torch.FloatStorage", "cannot be called"});
  expect_error(
      [&] { parse(PickleWriter().global("collections", "OrderedDict").mark().integer(1).tuple().op('R').finish()); },
      {"OrderedDict"});
  // Opcodes torch.save does not use.
  expect_error([&] { parse(std::string("\x80\x02") + "i__main__\nX\n."); }, {"opcode 0x69"});
  expect_error([&] { parse(std::string("\x80\x02") + "\x81."); }, {"opcode 0x81"});
  // Truncation, a length beyond the input, stack and memo misuse.
  expect_error([&] { parse(std::string("\x80\x02X\xff\xff\xff\x7f", 7)); }, {"truncated"});
  expect_error([&] { parse(std::string("\x80\x02}", 3)); }, {"truncated"});
  expect_error([&] { parse(std::string("\x80\x02s.", 4)); }, {"stack underflow"});
  expect_error([&] { parse(std::string("\x80\x02h\x05.", 5)); }, {"memo entry 5"});
  expect_error([&] { parse(std::string("\x80\x02}}.", 5)); }, {"left on the stack"});
  expect_error([&] { parse(std::string("\x80\x02](u.", 6)); }, {"SETITEMS target is a list"});
  expect_error([&] { parse(std::string("\x80\x02]K\x01K\x02s.", 9)); }, {"SETITEM target is a list"});
  expect_error([&] { parse(std::string("\x80\x02\x8a\x09", 4) + std::string(9, '\x01') + "."); }, {"64 bits"});
  // A persistent id that is not a storage, and a storage key reused with another size.
  expect_error([&] { parse(PickleWriter().str("x").op('Q').finish()); }, {"persistent id is a string"});
  PickleWriter twice;
  twice.mark().tensor("0", "FloatStorage", 4, 0, {4}, {1}).tensor("0", "FloatStorage", 5, 0, {4}, {1}).tuple();
  expect_error([&] { parse(twice.finish()); }, {"storage '0' appears with two types or sizes"});
  // Well-formed values: ints of every width, floats, a self-containing list (the memo allows it;
  // the arena owns the cycle).
  io::pickle::Pickle p(PickleWriter().mark().integer(-3).integer(int64_t(1) << 62).real(-0.125).tuple().finish(), what);
  REQUIRE(p.root().items.size() == 3);
  CHECK(p.root().items[0]->integer == -3);
  CHECK(p.root().items[1]->integer == int64_t(1) << 62);
  CHECK(p.root().items[2]->real == -0.125);
  io::pickle::Pickle cyc(std::string("\x80\x02]q\x00h\x00"
                                     "a.",
                                     9),
                         what);
  REQUIRE(cyc.root().kind == Kind::List);
  CHECK(cyc.root().items[0] == &cyc.root());
}
