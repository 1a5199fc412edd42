// IDX reader, plain (fuzz_idx) or with the input gzip-compressed first (fuzz_idx_gzip, built with
// FUZZ_IDX_GZIP), so mutations explore the IDX structure inside a valid gzip stream. A file either
// loads with exactly product(dims) bytes (dims[0] cut to max_items when given), or throws.
#include <zlib.h>

#include <vector>

#include "fuzz_util.h"
#include "io/idx.h"

namespace {
std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(compressBound(uLong(size)) + 32);
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = uInt(size);
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks max_items: 0-254, or 255 for the whole file.
  const int64_t max_items = data[0] == 255 ? -1 : int64_t(data[0]);
#ifdef FUZZ_IDX_GZIP
  const std::vector<uint8_t> zipped = gzip(data + 1, size - 1);
  promoe::fuzz::InputFile file(zipped.data(), zipped.size());
#else
  promoe::fuzz::InputFile file(data + 1, size - 1);
#endif
  try {
    promoe::io::IdxArray a = promoe::io::read_idx(file.path(), max_items);
    FUZZ_REQUIRE(!a.dims.empty() && a.dims.size() <= 4);
    uint64_t n = 1;
    for (int64_t d : a.dims) {
      FUZZ_REQUIRE(d >= 0);
      n *= uint64_t(d);
    }
    FUZZ_REQUIRE(a.data.size() == n);
    if (max_items >= 0) FUZZ_REQUIRE(a.dims[0] <= max_items);
#ifndef FUZZ_IDX_GZIP
    FUZZ_REQUIRE(n <= size);
#endif
  } catch (const promoe::Error&) {
  }
  return 0;
}
