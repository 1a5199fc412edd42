// Reading zip archives without loading them: the central directory (with zip64 sizes, offsets
// and end records) is read and checked against the file's length on open; members are then read
// on demand with positioned reads, whole (stored or deflated, CRC-32 checked) or, for stored
// members, any byte range of them. The .pth files torch.save writes (stored members, zip64 past
// 4 GiB) and NumPy's .npz archives are read through it. Every failure throws promoe::Error
// naming `what` (e.g. "PyTorch file ckpt.pth"), the member and the problem.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace promoe::io {

struct ZipMember {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0, size = 0;
  uint64_t local_header_offset = 0;
};

class ZipReader {
 public:
  // Opens `path` and reads its central directory; `what` starts every error message.
  ZipReader(const std::string& path, std::string what);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::string& what() const { return what_; }
  uint64_t file_size() const { return file_size_; }
  const std::vector<ZipMember>& members() const { return members_; }
  // nullptr when there is no member of that name.
  const ZipMember* find(const std::string& name) const;

  // Where a member's bytes start in the file (after its local header, which is checked here).
  uint64_t data_offset(const ZipMember& m) const;
  // The whole uncompressed member, stored or deflated, checked against its sizes and CRC-32;
  // refused above `max_bytes` before anything is allocated.
  std::string read_member(const ZipMember& m, uint64_t max_bytes) const;
  // `n` bytes from `offset` into a stored member's data, into `dst`.
  void read_stored(const ZipMember& m, uint64_t offset, void* dst, uint64_t n) const;
  // `n` bytes at absolute file position `pos`; `part` names what is read in an error.
  void read_at(uint64_t pos, void* dst, uint64_t n, const std::string& part) const;

 private:
  void read_central_directory();

  std::string path_, what_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  std::vector<ZipMember> members_;
};

// CRC-32 (zlib's) of `n` bytes, continuing from `crc` (0 to start).
uint32_t crc32_update(uint32_t crc, const void* data, uint64_t n);

}  // namespace promoe::io
