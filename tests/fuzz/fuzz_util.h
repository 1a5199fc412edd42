// Shared by the fuzz targets: the input as a file (a memfd, so no disk I/O per run) and the
// contract check that turns a broken loader promise into a crash libFuzzer reports.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tensor/tensor.h"

namespace promoe::fuzz {

// The fuzz input as a regular file at path(), removed when this goes out of scope.
class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) : fd_(::memfd_create("fuzz_input", 0)) {
    if (fd_ < 0 || ::write(fd_, data, size) != ssize_t(size)) std::abort();
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// Aborts with a message when a loader's contract does not hold.
#define FUZZ_REQUIRE(cond)                                                                \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "contract violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

// A CPU tensor from a loader: its storage covers its shape, and every byte of it can be read
// (AddressSanitizer checks the reads). Returns its byte count.
inline uint64_t require_covered(const Tensor& t) {
  FUZZ_REQUIRE(t.defined());
  FUZZ_REQUIRE(t.device().is_cpu());
  uint64_t numel = 1;
  for (int64_t s : t.shape()) {
    FUZZ_REQUIRE(s >= 0);
    numel *= uint64_t(s);
  }
  FUZZ_REQUIRE(uint64_t(t.numel()) == numel);
  // (Tensor::is_contiguous() reads an empty [0, 0] tensor as strided, so only non-empty ones.)
  FUZZ_REQUIRE(numel == 0 || t.is_contiguous());
  const uint64_t bytes = numel * dtype_size(t.dtype());
  FUZZ_REQUIRE(t.storage()->nbytes() >= bytes + uint64_t(t.offset()) * dtype_size(t.dtype()));
  const volatile unsigned char* p = static_cast<const unsigned char*>(t.raw_data());
  unsigned char acc = 0;
  for (uint64_t i = 0; i < bytes; i += 61) acc ^= p[i];
  if (bytes) acc ^= p[bytes - 1];
  (void)acc;
  return bytes;
}

}  // namespace promoe::fuzz
