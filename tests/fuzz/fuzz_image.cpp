// Photograph readers (`promoe encode`'s JPEG through libjpeg-turbo and PNG through stb_image): a
// file either decodes to an RGB image whose buffer is exactly height x width x 3 bytes, or throws
// promoe::Error; a small decoded image then goes through the ADM centre crop.
#include "fuzz_util.h"
#include "io/image_read.h"
#include "io/image_resample.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promoe::fuzz::InputFile file(data, size);
  try {
    const promoe::io::Image img = promoe::io::read_rgb_image(file.path());
    FUZZ_REQUIRE(img.channels == 3 && img.width > 0 && img.height > 0);
    FUZZ_REQUIRE(uint64_t(img.width) * uint64_t(img.height) <= uint64_t(promoe::io::kMaxImagePixels) ||
                 (size > 8 && data[0] == 0x89));  // PNG keeps its own, larger limit
    FUZZ_REQUIRE(img.pixels.size() == uint64_t(img.width) * uint64_t(img.height) * 3);
    if (img.width * img.height <= 4096) {
      const promoe::io::Image crop = promoe::io::adm_center_crop(img, 8);
      FUZZ_REQUIRE(crop.width == 8 && crop.height == 8 && crop.pixels.size() == 8 * 8 * 3);
    }
  } catch (const promoe::Error&) {
  }
  return 0;
}
