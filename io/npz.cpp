// .npz reading (through io/zip_reader.h) and writing.
#include "io/npz.h"

#include <zlib.h>

#include <cmath>

#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/zip_reader.h"
#include "tensor/ops.h"

namespace promoe::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint64_t kMaxMember = uint64_t(1) << 34;  // 16 GiB: larger claims are refused before allocating

template <typename... Args>
[[noreturn]] void fail(const std::string& path, const Args&... args) {
  PROMOE_FAIL(".npz file ", path, ": ", args...);
}

// A version 1.0 .npy image of C-order data of `dims` (written here rather than by write_npy, which
// stores tensors and so has no byte dtype).
std::string npy_image(const Shape& dims, const char* descr, const void* data, size_t nbytes) {
  std::string shape = "(";
  for (int64_t s : dims) shape += std::to_string(s) + ", ";
  if (dims.size() > 1) shape.resize(shape.size() - 2);
  if (dims.size() == 1) shape.resize(shape.size() - 1);  // "(5,)"
  shape += ")";
  std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  h.append(63 - (10 + h.size()) % 64, ' ');
  h += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += char(h.size() & 0xFF);
  out += char(h.size() >> 8);
  out += h;
  out.append(static_cast<const char*>(data), nbytes);
  return out;
}

std::string encode_member(const std::string& path, const NpzMember& m) {
  PROMOE_CHECK(m.tensor.defined(), "write_npz ", path, ": member ", m.name, " is undefined");
  Tensor c = raw::contiguous(raw::to(m.tensor, Device::cpu()));
  if (m.uint8) {
    std::vector<double> v = c.to_vector<double>();
    std::vector<uint8_t> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      PROMOE_CHECK(v[i] >= 0 && v[i] <= 255 && v[i] == std::floor(v[i]), "write_npz ", path, ": member ", m.name,
                   " value ", v[i], " at flat index ", i, " is not a byte");
      b[i] = uint8_t(v[i]);
    }
    return npy_image(c.shape(), "|u1", b.data(), b.size());
  }
  const char* descr = c.dtype() == DType::F32   ? "<f4"
                      : c.dtype() == DType::F64 ? "<f8"
                      : c.dtype() == DType::I64 ? "<i8"
                                                : nullptr;
  PROMOE_CHECK(descr, "write_npz ", path, ": cannot store ", describe(c), " (f32, f64, i64 or uint8)");
  return npy_image(c.shape(), descr, c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()));
}

std::string deflate_raw(const std::string& in) {
  z_stream z{};
  PROMOE_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
               "zlib: cannot start deflate");
  std::string out(deflateBound(&z, uLong(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int r = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  PROMOE_CHECK(r == Z_STREAM_END, "zlib: deflate failed");
  return out;
}

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += char((v >> (8 * i)) & 0xFF);
}

}  // namespace

std::map<std::string, Tensor> read_npz(const std::string& path) {
  const ZipReader zip(path, ".npz file " + path);
  std::map<std::string, Tensor> out;
  for (const ZipMember& m : zip.members()) {
    if (m.name.size() < 5 || m.name.compare(m.name.size() - 4, 4, ".npy") != 0)
      fail(path, "member ", m.name, " is not a .npy array");
    const std::string key = m.name.substr(0, m.name.size() - 4);
    if (out.count(key)) fail(path, "member ", m.name, " appears twice");
    // Stored members are read as they are, deflated ones inflated, both into memory (CRC-32 checked).
    const std::string bytes = zip.read_member(m, kMaxMember);
    out[key] = parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                         ".npz file " + path + ": member " + m.name);
  }
  return out;
}

void write_npz(const std::string& path, const std::vector<NpzMember>& members, bool compress) {
  std::string body, directory;
  for (const NpzMember& m : members) {
    const std::string name = m.name + ".npy", data = encode_member(path, m);
    const std::string stored = compress ? deflate_raw(data) : data;
    PROMOE_CHECK(data.size() < 0xFFFFFFFFu && body.size() + stored.size() < 0xFFFFFFFFu, "write_npz ", path,
                 ": archives over 4 GiB are not supported");
    const uint32_t crc = crc32_update(0, data.data(), data.size());
    const uint16_t method = compress ? 8 : 0;
    auto common = [&](std::string& s) {  // version needed .. name length, shared by both headers
      put(s, 20, 2);                     // version needed: 2.0
      put(s, 0, 2);                      // flags
      put(s, method, 2);
      put(s, 0, 2);     // time
      put(s, 0x21, 2);  // date: 1980-01-01
      put(s, crc, 4);
      put(s, stored.size(), 4);
      put(s, data.size(), 4);
      put(s, name.size(), 2);
      put(s, 0, 2);  // extra length
    };
    put(directory, kCentralSig, 4);
    put(directory, 20, 2);  // version made by
    common(directory);
    put(directory, 0, 2);  // comment length
    put(directory, 0, 2);  // disk
    put(directory, 0, 2);  // internal attributes
    put(directory, 0, 4);  // external attributes
    put(directory, body.size(), 4);
    directory += name;
    put(body, kLocalSig, 4);
    common(body);
    body += name;
    body += stored;
  }
  std::string end;
  put(end, kEndSig, 4);
  put(end, 0, 4);  // disk numbers
  put(end, members.size(), 2);
  put(end, members.size(), 2);
  put(end, directory.size(), 4);
  put(end, body.size(), 4);
  put(end, 0, 2);  // comment length
  write_file_atomic(path, body + directory + end);
}

}  // namespace promoe::io
