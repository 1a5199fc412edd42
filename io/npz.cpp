// .npz reading (zip central directory, stored or deflated members, zip64 sizes) and writing.
#include "io/npz.h"

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/atomic_file.h"
#include "io/npy.h"
#include "tensor/ops.h"

namespace promoe::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kMaxMember = uint64_t(1) << 34;  // 16 GiB: larger claims are refused before allocating

template <typename... Args>
[[noreturn]] void fail(const std::string& path, const Args&... args) {
  PROMOE_FAIL(".npz file ", path, ": ", args...);
}

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// The whole file in memory, with bounds-checked little-endian reads.
struct Bytes {
  std::string path;
  std::string data;
  uint64_t size() const { return data.size(); }
  const unsigned char* at(uint64_t offset, uint64_t n, const char* what) const {
    if (offset > size() || n > size() - offset)
      fail(path, what, " at byte ", offset, " (+", n, ") goes beyond the end of the file (", size(), " bytes)");
    return reinterpret_cast<const unsigned char*>(data.data()) + offset;
  }
  uint64_t u(uint64_t offset, int n, const char* what) const { return le(at(offset, n, what), n); }
};

struct Entry {
  std::string name;
  uint16_t method = 0, flags = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, size = 0, local_offset = 0;
};

// Replaces the 0xFFFFFFFF fields of `e` from the zip64 extra field (id 1) in [p, p + n).
void apply_zip64_extra(const Bytes& f, uint64_t p, uint64_t n, Entry& e, bool size32, bool comp32, bool off32) {
  const uint64_t end = p + n;
  while (p + 4 <= end) {
    const uint64_t id = f.u(p, 2, "extra field"), len = f.u(p + 2, 2, "extra field");
    if (p + 4 + len > end) fail(f.path, "member ", e.name, ": extra field overruns its record");
    if (id == 1) {
      uint64_t q = p + 4;
      auto take = [&](uint64_t& field) {
        if (q + 8 > p + 4 + len) fail(f.path, "member ", e.name, ": short zip64 extra field");
        field = f.u(q, 8, "zip64 field");
        q += 8;
      };
      if (size32) take(e.size);
      if (comp32) take(e.compressed);
      if (off32) take(e.local_offset);
      return;
    }
    p += 4 + len;
  }
  if (size32 || comp32 || off32) fail(f.path, "member ", e.name, ": 32-bit size overflow without a zip64 field");
}

// The central directory's entries (offset and count from the end record, or its zip64 version).
std::vector<Entry> central_directory(const Bytes& f) {
  if (f.size() < 22) fail(f.path, "too short to be a zip archive (", f.size(), " bytes)");
  uint64_t end = f.size() - 22;  // the end record sits within the last 22 + 65535 bytes
  const uint64_t lowest = f.size() > 22 + 65535 ? f.size() - 22 - 65535 : 0;
  while (f.u(end, 4, "end record") != kEndSig) {
    if (end == lowest) fail(f.path, "not a zip archive (no end-of-central-directory record)");
    --end;
  }
  uint64_t count = f.u(end + 10, 2, "end record"), cd_size = f.u(end + 12, 4, "end record"),
           cd_offset = f.u(end + 16, 4, "end record");
  if ((count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) && end >= 20 &&
      f.u(end - 20, 4, "zip64 locator") == kZip64LocatorSig) {
    const uint64_t z = f.u(end - 20 + 8, 8, "zip64 locator");
    if (f.u(z, 4, "zip64 end record") != kZip64EndSig) fail(f.path, "zip64 locator points at no zip64 end record");
    count = f.u(z + 32, 8, "zip64 end record");
    cd_size = f.u(z + 40, 8, "zip64 end record");
    cd_offset = f.u(z + 48, 8, "zip64 end record");
  }
  f.at(cd_offset, cd_size, "central directory");
  if (count > cd_size / 46) fail(f.path, "central directory claims ", count, " members in ", cd_size, " bytes");
  std::vector<Entry> entries;
  uint64_t p = cd_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (f.u(p, 4, "central directory entry") != kCentralSig) fail(f.path, "corrupt central directory entry ", i);
    Entry e;
    e.flags = uint16_t(f.u(p + 8, 2, "entry"));
    e.method = uint16_t(f.u(p + 10, 2, "entry"));
    e.crc = uint32_t(f.u(p + 16, 4, "entry"));
    e.compressed = f.u(p + 20, 4, "entry");
    e.size = f.u(p + 24, 4, "entry");
    const uint64_t name_len = f.u(p + 28, 2, "entry"), extra_len = f.u(p + 30, 2, "entry"),
                   comment_len = f.u(p + 32, 2, "entry");
    e.local_offset = f.u(p + 42, 4, "entry");
    e.name.assign(reinterpret_cast<const char*>(f.at(p + 46, name_len, "member name")), name_len);
    apply_zip64_extra(f, p + 46 + name_len, extra_len, e, e.size == 0xFFFFFFFF, e.compressed == 0xFFFFFFFF,
                      e.local_offset == 0xFFFFFFFF);
    f.at(p + 46 + name_len, extra_len + comment_len, "entry");
    p += 46 + name_len + extra_len + comment_len;
    entries.push_back(e);
  }
  return entries;
}

uint32_t crc32_of(const std::string& s) {
  uLong c = crc32(0L, Z_NULL, 0);
  for (size_t at = 0; at < s.size(); at += 1u << 30)
    c = crc32(c, reinterpret_cast<const Bytef*>(s.data() + at), uInt(std::min<size_t>(s.size() - at, 1u << 30)));
  return uint32_t(c);
}

// The uncompressed bytes of `e`, checked against its sizes and CRC-32.
std::string member_bytes(const Bytes& f, const Entry& e) {
  if (e.flags & 1) fail(f.path, "member ", e.name, " is encrypted");
  if (e.method != 0 && e.method != 8)
    fail(f.path, "member ", e.name, " uses compression method ", e.method, " (only stored and deflate are supported)");
  if (e.size > kMaxMember) fail(f.path, "member ", e.name, " claims ", e.size, " bytes, more than the 16 GiB limit");
  if (f.u(e.local_offset, 4, "local header") != kLocalSig)
    fail(f.path, "member ", e.name, ": no local header at byte ", e.local_offset);
  const uint64_t name_len = f.u(e.local_offset + 26, 2, "local header"),
                 extra_len = f.u(e.local_offset + 28, 2, "local header");
  const uint64_t start = e.local_offset + 30 + name_len + extra_len;
  const unsigned char* src = f.at(start, e.compressed, "member data");
  std::string out;
  if (e.method == 0) {
    if (e.compressed != e.size)
      fail(f.path, "stored member ", e.name, " has ", e.compressed, " bytes but claims ", e.size);
    out.assign(reinterpret_cast<const char*>(src), e.size);
  } else {
    // Deflate expands at most ~1032:1, so a larger claim is a lie; refuse it before allocating.
    if (e.size / 1032 > e.compressed + 1)
      fail(f.path, "member ", e.name, " claims ", e.size, " bytes from ", e.compressed, " compressed");
    out.resize(e.size);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail(f.path, "zlib: cannot start inflate");
    z.next_in = const_cast<Bytef*>(src);
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    uint64_t in_left = e.compressed, out_left = e.size;
    int r = Z_OK;
    while (r == Z_OK) {
      const uInt in_chunk = uInt(std::min<uint64_t>(in_left, 1u << 30)),
                 out_chunk = uInt(std::min<uint64_t>(out_left, 1u << 30));
      z.avail_in = in_chunk;
      z.avail_out = out_chunk;
      r = inflate(&z, Z_NO_FLUSH);
      in_left -= in_chunk - z.avail_in;
      out_left -= out_chunk - z.avail_out;
      if (r == Z_OK && z.avail_out == out_chunk && z.avail_in == in_chunk) r = Z_BUF_ERROR;  // no progress
    }
    inflateEnd(&z);
    if (r != Z_STREAM_END || out_left != 0)
      fail(f.path, "member ", e.name, ": corrupt or truncated deflate data (", e.size - out_left, " of ", e.size,
           " bytes)");
  }
  if (crc32_of(out) != e.crc) fail(f.path, "member ", e.name, ": CRC-32 mismatch (corrupt data)");
  return out;
}

// A member's bytes parsed by read_npy, through a temporary file that is always removed.
Tensor parse_member(const std::string& path, const std::string& name, const std::string& bytes) {
  static std::atomic<uint64_t> counter{0};
  const std::filesystem::path tmp = std::filesystem::temp_directory_path() / ("promoe-npz-" + std::to_string(getpid()) +
                                                                              "-" + std::to_string(counter++) + ".npy");
  struct Remove {
    std::filesystem::path p;
    ~Remove() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } remove{tmp};
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) fail(path, "cannot write a temporary file for member ", name);
  }
  try {
    return read_npy(tmp.string());
  } catch (const Error& e) {
    fail(path, "member ", name, ": ", e.what());
  }
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
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file");
  Bytes f{path, {}};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open");
    f.data.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::map<std::string, Tensor> out;
  for (const Entry& e : central_directory(f)) {
    if (e.name.size() < 5 || e.name.compare(e.name.size() - 4, 4, ".npy") != 0)
      fail(path, "member ", e.name, " is not a .npy array");
    const std::string key = e.name.substr(0, e.name.size() - 4);
    if (out.count(key)) fail(path, "member ", e.name, " appears twice");
    out[key] = parse_member(path, e.name, member_bytes(f, e));
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
    const uint32_t crc = crc32_of(data);
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
