// .npy reader: a file either loads as a CPU tensor covering its shape, with the data the file
// holds (at most its size), or throws promoe::Error.
#include "fuzz_util.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  try {
    promoe::Tensor t = promoe::io::read_npy(file.path());
    const uint64_t bytes = promoe::fuzz::require_covered(t);
    // '<i4' is widened to I64: the file holds half the bytes of the tensor.
    FUZZ_REQUIRE(bytes <= 2 * uint64_t(size));
  } catch (const promoe::Error&) {
  }
  return 0;
}
