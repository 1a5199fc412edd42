// The sharded latent format's parsers: an input is a 2-byte little-endian length L, L bytes of
// index.json text, then the bytes of one shard file. The index either parses with sizes that add
// up or throws promoe::Error; the shard header is then validated against that index (or, when the
// index was refused, a fixed two-entry index) and, when accepted, every tensor it names lies
// inside the input (AddressSanitizer checks the reads of every entry and label).
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "io/latent_shards.h"

namespace {

promoe::io::LatentIndex fixed_index() {
  promoe::io::LatentIndex index;
  index.info.channels = 4;
  index.info.height = 2;
  index.info.width = 3;
  index.info.moments = true;
  index.info.flips = true;
  index.info.num_classes = 3;
  index.info.size = 2;
  index.shards.push_back({"shard-00000.safetensors", 2});
  return index;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t len = std::min<size_t>(size - 2, size_t(data[0]) | (size_t(data[1]) << 8));
  const std::string text(reinterpret_cast<const char*>(data + 2), len);
  const uint8_t* shard = data + 2 + len;
  const uint64_t shard_size = size - 2 - len;
  promoe::io::LatentIndex index = fixed_index();
  try {
    promoe::io::LatentIndex parsed = promoe::io::parse_latent_index(text, "fuzz index");
    uint64_t total = 0;
    for (const auto& s : parsed.shards) {
      FUZZ_REQUIRE(s.entries >= 1 && !s.file.empty() && s.file.find('/') == std::string::npos);
      total += uint64_t(s.entries);
    }
    FUZZ_REQUIRE(total == uint64_t(parsed.info.size));
    FUZZ_REQUIRE(parsed.info.channels >= 1 && parsed.info.height >= 1 && parsed.info.width >= 1);
    FUZZ_REQUIRE(!parsed.info.moments || parsed.info.channels % 2 == 0);
    index = parsed;
  } catch (const promoe::Error&) {
  }
  // A copy, so reads past the shard's bytes are out of bounds of this allocation.
  std::string bytes(reinterpret_cast<const char*>(shard), shard_size);
  try {
    const promoe::io::ShardLayout layout = promoe::io::parse_shard_header(
        reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), index, 0, "fuzz shard");
    const uint64_t n = uint64_t(index.shards[0].entries);
    const uint64_t entry_bytes = uint64_t(index.info.entry_floats()) * 4;
    volatile uint8_t acc = 0;
    auto touch = [&](uint64_t begin, uint64_t bytes_total) {
      FUZZ_REQUIRE(begin <= bytes.size() && bytes_total <= bytes.size() - begin);
      if (bytes_total) acc ^= uint8_t(bytes[begin]) ^ uint8_t(bytes[begin + bytes_total - 1]);
    };
    touch(layout.latents, n * entry_bytes);
    if (index.info.flips) touch(layout.latents_flip, n * entry_bytes);
    touch(layout.labels, n * 8);
    (void)acc;
  } catch (const promoe::Error&) {
  }
  return 0;
}
