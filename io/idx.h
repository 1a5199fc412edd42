// IDX files (the MNIST family's format): magic 0x00 0x00 <type> <ndims>, ndims big-endian uint32
// sizes, then the row-major data. Only unsigned bytes (type 0x08) are supported, which covers
// idx1 label files and idx3 image files. Files may be plain or gzip-compressed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace promoe::io {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. (N) for labels, (N, 28, 28) for images
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// Reads a whole IDX file; with max_items >= 0, only the first max_items entries along dim 0 (dims[0]
// is then the number read). Throws promoe::Error naming the file on a bad magic, an unsupported
// type, implausible dims or incomplete data ("truncated: expected N bytes of image data, got M").
IdxArray read_idx(const std::string& path, int64_t max_items = -1);

// True when the file starts with the gzip magic bytes 1f 8b.
bool is_gzip_file(const std::string& path);

}  // namespace promoe::io
