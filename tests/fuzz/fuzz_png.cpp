// PNG reader (the grids `promoe eval` reads back): a file either decodes to an image whose pixel
// buffer is exactly height x width x channels bytes, or throws promoe::Error.
#include "fuzz_util.h"
#include "io/png.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  for (int64_t channels : {1, 3}) {
    try {
      promoe::io::Image img = promoe::io::read_png(file.path(), channels);
      FUZZ_REQUIRE(img.channels == channels && img.width > 0 && img.height > 0);
      FUZZ_REQUIRE(img.pixels.size() == uint64_t(img.width) * uint64_t(img.height) * uint64_t(channels));
    } catch (const promoe::Error&) {
    }
  }
  return 0;
}
