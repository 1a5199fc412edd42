// .npy reading with a small parser for the header's Python dict literal, and .npy writing.
#include "io/npy.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "io/atomic_file.h"
#include "io/checked_size.h"
#include "io/mapped_file.h"
#include "tensor/ops.h"

namespace promoe::io {

static_assert(std::endian::native == std::endian::little, ".npy I/O assumes a little-endian host");

namespace {

// `what` names the source: ".npy file x.npy", or the archive and member of one in memory.
template <typename... Args>
[[noreturn]] void fail(const std::string& what, const Args&... args) {
  PROMOE_FAIL(what, ": ", args...);
}

// The text right after `'key':` in the header dict, with spaces skipped; throws when absent.
size_t value_pos(const std::string& what, const std::string& h, const std::string& key) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) k = h.find("\"" + key + "\"");
  if (k == std::string::npos) fail(what, "header has no '", key, "' entry: ", h);
  size_t p = h.find(':', k);
  if (p == std::string::npos) fail(what, "malformed header near '", key, "': ", h);
  ++p;
  while (p < h.size() && std::isspace(uint8_t(h[p]))) ++p;
  return p;
}

std::string parse_descr(const std::string& what, const std::string& h) {
  size_t p = value_pos(what, h, "descr");
  if (p >= h.size() || (h[p] != '\'' && h[p] != '"')) fail(what, "'descr' is not a string: ", h);
  size_t e = h.find(h[p], p + 1);
  if (e == std::string::npos) fail(what, "unterminated 'descr' string: ", h);
  return h.substr(p + 1, e - p - 1);
}

bool parse_fortran(const std::string& what, const std::string& h) {
  size_t p = value_pos(what, h, "fortran_order");
  if (h.compare(p, 4, "True") == 0) return true;
  if (h.compare(p, 5, "False") == 0) return false;
  fail(what, "'fortran_order' is neither True nor False: ", h);
}

Shape parse_shape(const std::string& what, const std::string& h) {
  size_t p = value_pos(what, h, "shape");
  if (p >= h.size() || h[p] != '(') fail(what, "'shape' is not a tuple: ", h);
  size_t e = h.find(')', p);
  if (e == std::string::npos) fail(what, "unterminated 'shape' tuple: ", h);
  Shape shape;
  size_t i = p + 1;
  while (i < e) {
    while (i < e && (std::isspace(uint8_t(h[i])) || h[i] == ',')) ++i;
    if (i == e) break;
    if (!std::isdigit(uint8_t(h[i]))) fail(what, "'shape' holds something other than non-negative integers: ", h);
    int64_t v = 0;
    while (i < e && std::isdigit(uint8_t(h[i]))) {
      v = v * 10 + (h[i++] - '0');
      if (v > (int64_t(1) << 48)) fail(what, "implausible size in 'shape': ", h);
    }
    if (i < e && h[i] == 'L') ++i;  // Python 2 longs
    shape.push_back(v);
  }
  return shape;
}

}  // namespace

Tensor parse_npy(const uint8_t* data, uint64_t size, const std::string& what) {
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) fail(what, "not a .npy file (missing the \\x93NUMPY magic)");
  const int major = data[6];
  if (major < 1 || major > 3) fail(what, "unsupported format version ", major, ".", int(data[7]));
  const uint64_t lsize = major == 1 ? 2 : 4;
  if (8 + lsize > size) fail(what, "truncated header length");
  uint64_t hlen = 0;
  for (uint64_t i = 0; i < lsize; ++i) hlen |= uint64_t(data[8 + i]) << (8 * i);
  const uint64_t data_start = 8 + lsize + hlen;
  if (data_start > size) fail(what, "header length ", hlen, " goes beyond the end of the file (", size, " bytes)");
  std::string h(reinterpret_cast<const char*>(data + 8 + lsize), hlen);
  while (!h.empty() && (h.back() == '\n' || h.back() == ' ' || h.back() == '\0')) h.pop_back();
  if (h.empty() || h.front() != '{' || h.back() != '}') fail(what, "header is not a Python dict: ", h);

  std::string descr = parse_descr(what, h);
  if (parse_fortran(what, h)) fail(what, "Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  Shape shape = parse_shape(what, h);

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
    fail(what, "unsupported dtype '", descr, "' (supported: <f4, <f8, <i8, <i4, |u1, little-endian)");

  const uint64_t n = checked_numel(shape, what), want = checked_bytes(n, item, what), have = size - data_start;
  if (have < want)
    fail(what, "truncated: expected ", want, " bytes of data for shape ", shape_str(shape), ", got ", have);
  if (have > want) fail(what, "has ", have - want, " trailing bytes after the data for shape ", shape_str(shape));

  // Only now, with the data known to be all there, is the tensor allocated.
  Tensor t = Tensor::empty(shape, file_dtype, Device::cpu());
  const uint8_t* src = data + data_start;
  if (item == 1) {  // '|u1': widen
    std::copy(src, src + n, t.data<int64_t>());
  } else if (item == 4 && file_dtype == DType::I64) {  // '<i4': widen (the data need not be aligned)
    int64_t* dst = t.data<int64_t>();
    for (uint64_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, src + 4 * i, 4);
      dst[i] = v;
    }
  } else if (want) {
    std::memcpy(t.raw_data(), src, want);
  }
  return t;
}

Tensor read_npy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(".npy file " + path, "no such file");
  const MappedFile file(path);
  return parse_npy(file.data(), file.size(), ".npy file " + path);
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
