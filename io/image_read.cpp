// The image format by the file's first bytes, then its reader.
#include "io/image_read.h"

#include <fstream>

#include "tensor/error.h"

namespace promoe::io {

Image read_rgb_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  PROMOE_CHECK(in, "image file ", path, ": cannot open");
  unsigned char head[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(head), 4);
  if (head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return read_jpeg(path);
  if (head[0] == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') return read_png(path, 3);
  PROMOE_FAIL("image file ", path, ": neither a JPEG nor a PNG (by its first bytes)");
}

}  // namespace promoe::io
