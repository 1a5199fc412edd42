// .npz reader: an archive either loads as named CPU tensors, each covering its shape, whose bytes
// together stay within what the archive can hold once inflated, or throws promoe::Error.
#include "fuzz_util.h"
#include "io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  try {
    uint64_t bytes = 0;
    for (const auto& [name, t] : promoe::io::read_npz(file.path())) {
      FUZZ_REQUIRE(!name.empty());
      bytes += promoe::fuzz::require_covered(t);
    }
    // Deflate expands at most 1032:1; '|u1' members widen 8x to I64, '<i4' 2x.
    FUZZ_REQUIRE(bytes <= 8 * 1032 * uint64_t(size));
  } catch (const promoe::Error&) {
  }
  return 0;
}
