// Zip central directory parsing and positioned member reads (see zip_reader.h).
#include "io/zip_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/checked_size.h"
#include "tensor/error.h"

namespace promoe::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kEndRecord = 22, kMaxComment = 65535, kCentralEntry = 46, kLocalHeader = 30;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Little-endian fields of an in-memory block read from the file at `base`, bounds-checked.
struct Block {
  const ZipReader& zip;
  std::string bytes;
  uint64_t base;
  uint64_t u(uint64_t at, int n, const char* part) const {
    if (at > bytes.size() || uint64_t(n) > bytes.size() - at)
      PROMOE_FAIL(zip.what(), ": ", part, " at byte ", base + at, " (+", n, ") goes beyond the end of the file (",
                  zip.file_size(), " bytes)");
    return le(reinterpret_cast<const unsigned char*>(bytes.data()) + at, n);
  }
};

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, uint64_t n) {
  uLong c = crc;
  const auto* p = static_cast<const Bytef*>(data);
  for (uint64_t at = 0; at < n; at += 1u << 30) c = crc32(c, p + at, uInt(std::min<uint64_t>(n - at, 1u << 30)));
  return uint32_t(c);
}

ZipReader::ZipReader(const std::string& path, std::string what) : path_(path), what_(std::move(what)) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) PROMOE_FAIL(what_, ": no such file");
  if (S_ISDIR(st.st_mode)) PROMOE_FAIL(what_, ": is a directory, not a file");
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) PROMOE_FAIL(what_, ": cannot open: ", std::strerror(errno));
  try {
    if (::fstat(fd_, &st) != 0) PROMOE_FAIL(what_, ": cannot read its size: ", std::strerror(errno));
    file_size_ = uint64_t(st.st_size);
    read_central_directory();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

ZipReader::~ZipReader() {
  if (fd_ >= 0) ::close(fd_);
}

void ZipReader::read_at(uint64_t pos, void* dst, uint64_t n, const std::string& part) const {
  if (pos > file_size_ || n > file_size_ - pos)
    PROMOE_FAIL(what_, ": ", part, " at byte ", pos, " (+", n, ") goes beyond the end of the file (", file_size_,
                " bytes)");
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, size_t(std::min<uint64_t>(n, 1u << 30)), off_t(pos));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      PROMOE_FAIL(what_, ": cannot read ", part, " at byte ", pos, ": ",
                  got < 0 ? std::strerror(errno) : "end of file");
    out += got;
    pos += uint64_t(got);
    n -= uint64_t(got);
  }
}

void ZipReader::read_central_directory() {
  if (file_size_ < kEndRecord) PROMOE_FAIL(what_, ": too short to be a zip archive (", file_size_, " bytes)");
  // The end record sits within the last 22 + 65535 bytes (its comment is at most 65535 long).
  const uint64_t tail_len = std::min(file_size_, kEndRecord + kMaxComment);
  Block tail{*this, std::string(tail_len, '\0'), file_size_ - tail_len};
  read_at(tail.base, tail.bytes.data(), tail_len, "end record");
  uint64_t end = tail_len - kEndRecord;
  while (tail.u(end, 4, "end record") != kEndSig) {
    if (end == 0) PROMOE_FAIL(what_, ": not a zip archive (no end-of-central-directory record)");
    --end;
  }
  uint64_t count = tail.u(end + 10, 2, "end record"), cd_size = tail.u(end + 12, 4, "end record"),
           cd_offset = tail.u(end + 16, 4, "end record");
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    // zip64: a locator just before the end record points at the zip64 end record.
    if (end < 20 || tail.u(end - 20, 4, "zip64 locator") != kZip64LocatorSig)
      PROMOE_FAIL(what_, ": the end record needs zip64 values but there is no zip64 locator");
    const uint64_t z = tail.u(end - 20 + 8, 8, "zip64 locator");
    Block rec{*this, std::string(56, '\0'), z};
    read_at(z, rec.bytes.data(), 56, "zip64 end record");
    if (rec.u(0, 4, "zip64 end record") != kZip64EndSig)
      PROMOE_FAIL(what_, ": the zip64 locator points at byte ", z, ", which holds no zip64 end record");
    count = rec.u(32, 8, "zip64 end record");
    cd_size = rec.u(40, 8, "zip64 end record");
    cd_offset = rec.u(48, 8, "zip64 end record");
  }
  if (cd_offset > file_size_ || cd_size > file_size_ - cd_offset)
    PROMOE_FAIL(what_, ": the central directory ([", cd_offset, ", +", cd_size, ")) goes beyond the end of the file (",
                file_size_, " bytes)");
  if (count > cd_size / kCentralEntry)
    PROMOE_FAIL(what_, ": the central directory claims ", count, " members in ", cd_size, " bytes");
  Block cd{*this, std::string(cd_size, '\0'), cd_offset};
  read_at(cd_offset, cd.bytes.data(), cd_size, "central directory");
  members_.reserve(count);
  uint64_t p = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd.u(p, 4, "central directory entry") != kCentralSig)
      PROMOE_FAIL(what_, ": corrupt central directory entry ", i);
    ZipMember m;
    m.flags = uint16_t(cd.u(p + 8, 2, "central directory entry"));
    m.method = uint16_t(cd.u(p + 10, 2, "central directory entry"));
    m.crc32 = uint32_t(cd.u(p + 16, 4, "central directory entry"));
    m.compressed_size = cd.u(p + 20, 4, "central directory entry");
    m.size = cd.u(p + 24, 4, "central directory entry");
    const uint64_t name_len = cd.u(p + 28, 2, "central directory entry"),
                   extra_len = cd.u(p + 30, 2, "central directory entry"),
                   comment_len = cd.u(p + 32, 2, "central directory entry");
    m.local_header_offset = cd.u(p + 42, 4, "central directory entry");
    const uint64_t next = p + kCentralEntry + name_len + extra_len + comment_len;
    if (next > cd.bytes.size()) PROMOE_FAIL(what_, ": central directory entry ", i, " overruns the directory");
    m.name = cd.bytes.substr(p + kCentralEntry, name_len);
    // zip64 extra field (id 1): 8-byte values for the 32-bit fields that read 0xFFFFFFFF, in order.
    const bool size64 = m.size == 0xFFFFFFFF, comp64 = m.compressed_size == 0xFFFFFFFF,
               off64 = m.local_header_offset == 0xFFFFFFFF;
    bool found = false;
    for (uint64_t q = p + kCentralEntry + name_len, e = q + extra_len; q + 4 <= e && !found;) {
      const uint64_t id = cd.u(q, 2, "extra field"), len = cd.u(q + 2, 2, "extra field");
      if (q + 4 + len > e) PROMOE_FAIL(what_, ": member ", m.name, ": an extra field overruns its entry");
      if (id == 1) {
        found = true;
        uint64_t v = q + 4;
        for (auto [wanted, field] :
             {std::pair{size64, &m.size}, {comp64, &m.compressed_size}, {off64, &m.local_header_offset}}) {
          if (!wanted) continue;
          if (v + 8 > q + 4 + len) PROMOE_FAIL(what_, ": member ", m.name, ": short zip64 extra field");
          *field = cd.u(v, 8, "zip64 extra field");
          v += 8;
        }
      }
      q += 4 + len;
    }
    if ((size64 || comp64 || off64) && !found)
      PROMOE_FAIL(what_, ": member ", m.name, ": 32-bit size or offset overflow without a zip64 field");
    members_.push_back(std::move(m));
    p = next;
  }
}

const ZipMember* ZipReader::find(const std::string& name) const {
  for (const ZipMember& m : members_)
    if (m.name == name) return &m;
  return nullptr;
}

uint64_t ZipReader::data_offset(const ZipMember& m) const {
  unsigned char h[kLocalHeader];
  read_at(m.local_header_offset, h, kLocalHeader, "local header of member " + m.name);
  if (le(h, 4) != kLocalSig)
    PROMOE_FAIL(what_, ": member ", m.name, ": no local header at byte ", m.local_header_offset);
  const uint64_t name_len = le(h + 26, 2), extra_len = le(h + 28, 2);
  const uint64_t start = checked_add(m.local_header_offset, kLocalHeader + name_len + extra_len, what_);
  if (start > file_size_ || m.compressed_size > file_size_ - start)
    PROMOE_FAIL(what_, ": member ", m.name, " data at byte ", start, " (+", m.compressed_size,
                ") goes beyond the end of the file (", file_size_, " bytes)");
  return start;
}

void ZipReader::read_stored(const ZipMember& m, uint64_t offset, void* dst, uint64_t n) const {
  if (m.flags & 1) PROMOE_FAIL(what_, ": member ", m.name, " is encrypted");
  if (m.method != 0)
    PROMOE_FAIL(what_, ": member ", m.name, " is compressed (method ", m.method,
                "); only stored members can be read in parts");
  if (m.compressed_size != m.size)
    PROMOE_FAIL(what_, ": stored member ", m.name, " has ", m.compressed_size, " bytes but claims ", m.size);
  if (offset > m.size || n > m.size - offset)
    PROMOE_FAIL(what_, ": member ", m.name, ": bytes [", offset, ", +", n, ") lie outside its ", m.size, " bytes");
  read_at(data_offset(m) + offset, dst, n, "member " + m.name);
}

std::string ZipReader::read_member(const ZipMember& m, uint64_t max_bytes) const {
  if (m.flags & 1) PROMOE_FAIL(what_, ": member ", m.name, " is encrypted");
  if (m.method != 0 && m.method != 8)
    PROMOE_FAIL(what_, ": member ", m.name, " uses compression method ", m.method,
                " (only stored and deflate are supported)");
  if (m.size > max_bytes)
    PROMOE_FAIL(what_, ": member ", m.name, " claims ", m.size, " bytes, more than the ", max_bytes, "-byte limit");
  const uint64_t start = data_offset(m);
  std::string out;
  if (m.method == 0) {
    if (m.compressed_size != m.size)
      PROMOE_FAIL(what_, ": stored member ", m.name, " has ", m.compressed_size, " bytes but claims ", m.size);
    out.resize(m.size);
    read_at(start, out.data(), m.size, "member " + m.name);
  } else {
    // Deflate expands at most ~1032:1, so a larger claim is a lie; refuse it before allocating.
    if (m.size / 1032 > m.compressed_size + 1)
      PROMOE_FAIL(what_, ": member ", m.name, " claims ", m.size, " bytes from ", m.compressed_size, " compressed");
    std::string in(m.compressed_size, '\0');
    read_at(start, in.data(), m.compressed_size, "member " + m.name);
    out.resize(m.size);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) PROMOE_FAIL(what_, ": zlib: cannot start inflate");
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    uint64_t in_left = in.size(), out_left = out.size();
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
      PROMOE_FAIL(what_, ": member ", m.name, ": corrupt or truncated deflate data (", m.size - out_left, " of ",
                  m.size, " bytes)");
  }
  if (crc32_update(0, out.data(), out.size()) != m.crc32)
    PROMOE_FAIL(what_, ": member ", m.name, ": CRC-32 mismatch (corrupt data)");
  return out;
}

}  // namespace promoe::io
