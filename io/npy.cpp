// .npy reading with a small parser for the header's Python dict literal, and .npy writing.
#include "io/npy.h"

#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "io/atomic_file.h"
#include "io/checked_size.h"
#include "tensor/ops.h"

namespace promoe::io {

static_assert(std::endian::native == std::endian::little, ".npy I/O assumes a little-endian host");

namespace {

template <typename... Args>
[[noreturn]] void fail(const std::string& path, const Args&... args) {
  PROMOE_FAIL(".npy file ", path, ": ", args...);
}

// The text right after `'key':` in the header dict, with spaces skipped; throws when absent.
size_t value_pos(const std::string& path, const std::string& h, const std::string& key) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) k = h.find("\"" + key + "\"");
  if (k == std::string::npos) fail(path, "header has no '", key, "' entry: ", h);
  size_t p = h.find(':', k);
  if (p == std::string::npos) fail(path, "malformed header near '", key, "': ", h);
  ++p;
  while (p < h.size() && std::isspace(uint8_t(h[p]))) ++p;
  return p;
}

std::string parse_descr(const std::string& path, const std::string& h) {
  size_t p = value_pos(path, h, "descr");
  if (p >= h.size() || (h[p] != '\'' && h[p] != '"')) fail(path, "'descr' is not a string: ", h);
  size_t e = h.find(h[p], p + 1);
  if (e == std::string::npos) fail(path, "unterminated 'descr' string: ", h);
  return h.substr(p + 1, e - p - 1);
}

bool parse_fortran(const std::string& path, const std::string& h) {
  size_t p = value_pos(path, h, "fortran_order");
  if (h.compare(p, 4, "True") == 0) return true;
  if (h.compare(p, 5, "False") == 0) return false;
  fail(path, "'fortran_order' is neither True nor False: ", h);
}

Shape parse_shape(const std::string& path, const std::string& h) {
  size_t p = value_pos(path, h, "shape");
  if (p >= h.size() || h[p] != '(') fail(path, "'shape' is not a tuple: ", h);
  size_t e = h.find(')', p);
  if (e == std::string::npos) fail(path, "unterminated 'shape' tuple: ", h);
  Shape shape;
  size_t i = p + 1;
  while (i < e) {
    while (i < e && (std::isspace(uint8_t(h[i])) || h[i] == ',')) ++i;
    if (i == e) break;
    if (!std::isdigit(uint8_t(h[i]))) fail(path, "'shape' holds something other than non-negative integers: ", h);
    int64_t v = 0;
    while (i < e && std::isdigit(uint8_t(h[i]))) {
      v = v * 10 + (h[i++] - '0');
      if (v > (int64_t(1) << 48)) fail(path, "implausible size in 'shape': ", h);
    }
    if (i < e && h[i] == 'L') ++i;  // Python 2 longs
    shape.push_back(v);
  }
  return shape;
}

}  // namespace

Tensor read_npy(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail(path, "no such file");
  uint64_t fsize = fs::file_size(path, ec);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, "cannot open: ", std::strerror(errno));

  unsigned char pre[8];
  if (fsize < 10 || std::fread(pre, 1, 8, f.get()) != 8 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    fail(path, "not a .npy file (missing the \\x93NUMPY magic)");
  int major = pre[6];
  if (major < 1 || major > 3) fail(path, "unsupported format version ", major, ".", int(pre[7]));
  unsigned char lb[4] = {0, 0, 0, 0};
  size_t lsize = major == 1 ? 2 : 4;
  if (std::fread(lb, 1, lsize, f.get()) != lsize) fail(path, "truncated header length");
  uint64_t hlen = uint64_t(lb[0]) | uint64_t(lb[1]) << 8 | uint64_t(lb[2]) << 16 | uint64_t(lb[3]) << 24;
  const uint64_t data_start = 6 + 2 + lsize + hlen;
  if (data_start > fsize) fail(path, "header length ", hlen, " goes beyond the end of the file (", fsize, " bytes)");
  std::string h(hlen, '\0');
  if (std::fread(h.data(), 1, hlen, f.get()) != hlen) fail(path, "cannot read the header");
  while (!h.empty() && (h.back() == '\n' || h.back() == ' ' || h.back() == '\0')) h.pop_back();
  if (h.empty() || h.front() != '{' || h.back() != '}') fail(path, "header is not a Python dict: ", h);

  std::string descr = parse_descr(path, h);
  if (parse_fortran(path, h)) fail(path, "Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  Shape shape = parse_shape(path, h);

  DType file_dtype;
  size_t item;
  if (descr == "<f4")
    file_dtype = DType::F32, item = 4;
  else if (descr == "<f8")
    file_dtype = DType::F64, item = 8;
  else if (descr == "<i8")
    file_dtype = DType::I64, item = 8;
  else if (descr == "<i4")
    file_dtype = DType::I64, item = 4;
  else if (descr == "|u1")
    file_dtype = DType::I64, item = 1;
  else
    fail(path, "unsupported dtype '", descr, "' (supported: <f4, <f8, <i8, <i4, |u1, little-endian)");

  const std::string what = ".npy file " + path;
  const uint64_t n = checked_numel(shape, what), want = checked_bytes(n, item, what), have = fsize - data_start;
  if (have < want)
    fail(path, "truncated: expected ", want, " bytes of data for shape ", shape_str(shape), ", got ", have);
  if (have > want) fail(path, "has ", have - want, " trailing bytes after the data for shape ", shape_str(shape));

  Tensor t = Tensor::empty(shape, file_dtype, Device::cpu());
  if (item == 1) {  // '|u1': widen
    std::vector<uint8_t> tmp(n);
    if (std::fread(tmp.data(), 1, n, f.get()) != n) fail(path, "truncated data");
    std::copy(tmp.begin(), tmp.end(), t.data<int64_t>());
  } else if (item == 4 && file_dtype == DType::I64) {  // '<i4': widen
    std::vector<int32_t> tmp(n);
    if (std::fread(tmp.data(), 4, n, f.get()) != n) fail(path, "truncated data");
    std::copy(tmp.begin(), tmp.end(), t.data<int64_t>());
  } else if (want && std::fread(t.raw_data(), 1, want, f.get()) != want) {
    fail(path, "truncated data");
  }
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  PROMOE_CHECK(t.defined(), "write_npy ", path, ": undefined tensor");
  const char* descr = t.dtype() == DType::F32   ? "<f4"
                      : t.dtype() == DType::F64 ? "<f8"
                      : t.dtype() == DType::I64 ? "<i8"
                                                : nullptr;
  PROMOE_CHECK(descr, "write_npy ", path, ": cannot store ", describe(t), " (f32, f64 and i64 only)");
  Tensor c = raw::contiguous(raw::to(t, Device::cpu()));
  std::string shape = "(";
  for (int64_t s : c.shape()) shape += std::to_string(s) + ", ";
  if (c.dim() > 1) shape.resize(shape.size() - 2);
  if (c.dim() == 1) shape.resize(shape.size() - 1);  // "(5,)"
  shape += ")";
  std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  h.append(63 - (10 + h.size()) % 64, ' ');  // pad so the data starts at a multiple of 64 bytes
  h += '\n';
  write_file_atomic(path, [&](const ByteSink& sink) {
    uint16_t hlen = uint16_t(h.size());
    sink("\x93NUMPY\x01\x00", 8);
    sink(&hlen, 2);
    sink(h.data(), h.size());
    sink(c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()));
  });
}

}  // namespace promoe::io
