// A whole file mapped read-only into memory (mmap, MAP_PRIVATE, PROT_READ). Its pages are backed
// by the file, not by anonymous memory: reading a set far larger than RAM only fills the page
// cache, which the kernel reclaims, so the process's anonymous (heap) memory stays flat.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace promoe::io {

class MappedFile {
 public:
  // Throws promoe::Error naming the file when it cannot be opened or mapped. An empty file maps to
  // no bytes (data() is null, size() 0).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace promoe::io
