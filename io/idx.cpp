// IDX reading through zlib's gz* API, which reads gzip streams and, transparently, plain files.
#include "io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "io/checked_size.h"
#include "tensor/error.h"

namespace promoe::io {

namespace {

// A gz file handle that reads until `n` bytes or the end of the stream; a stream that stops early
// (a cut gzip file) counts as end of data so the caller reports how much it got.
class GzReader {
 public:
  GzReader(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    PROMOE_CHECK(f_, "IDX file ", path, ": cannot open: ", std::strerror(errno ? errno : EIO));
    gzbuffer(f_, 1 << 18);
  }
  ~GzReader() { gzclose(f_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  size_t read(void* dst, size_t n) {
    size_t got = 0;
    while (got < n && !ended_) {
      unsigned chunk = unsigned(std::min<size_t>(n - got, 1u << 30));
      int r = gzread(f_, static_cast<char*>(dst) + got, chunk);
      if (r < 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        PROMOE_CHECK(err == Z_BUF_ERROR, "IDX file ", path_, ": corrupt gzip data: ", msg);
        ended_ = true;  // "unexpected end of file": the compressed stream was cut short
        break;
      }
      if (r == 0) ended_ = true;
      got += size_t(r);
    }
    return got;
  }

 private:
  std::string path_;
  gzFile f_;
  bool ended_ = false;
};

}  // namespace

bool is_gzip_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  unsigned char m[2] = {0, 0};
  return f && std::fread(m, 1, 2, f.get()) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

IdxArray read_idx(const std::string& path, int64_t max_items) {
  std::error_code ec;
  PROMOE_CHECK(std::filesystem::is_regular_file(path, ec), "IDX file ", path, ": no such file");
  const char* kind = is_gzip_file(path) ? "gzip-compressed IDX file " : "IDX file ";
  GzReader in(path);

  unsigned char magic[4];
  PROMOE_CHECK(in.read(magic, 4) == 4, kind, path, ": shorter than the 4-byte magic number");
  PROMOE_CHECK(magic[0] == 0 && magic[1] == 0, kind, path, ": bad magic number (first two bytes ", int(magic[0]), ", ",
               int(magic[1]), ", expected 0, 0)");
  PROMOE_CHECK(magic[2] == 0x08, kind, path, ": element type 0x", std::hex, int(magic[2]), std::dec,
               " is not supported (only unsigned bytes, 0x08)");
  int ndims = magic[3];
  PROMOE_CHECK(ndims >= 1 && ndims <= 4, kind, path, ": ", ndims, " dimensions (expected 1 to 4)");

  IdxArray out;
  std::vector<uint64_t> dims;
  for (int d = 0; d < ndims; ++d) {
    unsigned char b[4];
    PROMOE_CHECK(in.read(b, 4) == 4, kind, path, ": truncated in the header (size of dimension ", d, ")");
    dims.push_back((uint64_t(b[0]) << 24) | (uint64_t(b[1]) << 16) | (uint64_t(b[2]) << 8) | b[3]);
  }
  const uint64_t total = checked_numel(dims, kind + path);
  out.dims.assign(dims.begin(), dims.end());

  uint64_t want = total;
  if (max_items >= 0 && max_items < out.dims[0]) {
    want = out.dims[0] ? total / uint64_t(out.dims[0]) * uint64_t(max_items) : 0;
    out.dims[0] = max_items;
  }
  // The header's claim is not trusted with memory: the buffer grows with the bytes that really
  // arrive (after decompression), so a short file costs what it holds, not what it claims.
  size_t got = 0;
  while (got < want) {
    const size_t chunk = size_t(std::min<uint64_t>(want - got, std::max<uint64_t>(got, 1 << 20)));
    out.data.resize(got + chunk);
    const size_t n = in.read(out.data.data() + got, chunk);
    got += n;
    if (n < chunk) break;
  }
  out.data.resize(got);
  // 1-D IDX files hold labels, the others images: name what is missing the way users think of it.
  const char* what = ndims == 1 ? "label data" : "image data";
  PROMOE_CHECK(got == want, kind, path, ": truncated: expected ", want, " bytes of ", what, ", got ", got);
  if (want == total) {
    unsigned char extra;
    PROMOE_CHECK(in.read(&extra, 1) == 0, kind, path, ": has trailing bytes after the ", total, " bytes of ", what);
  }
  return out;
}

}  // namespace promoe::io
