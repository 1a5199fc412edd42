// JPEG decoding through libjpeg-turbo. libjpeg reports fatal errors through a callback that must
// not return; it long-jumps back into decode(), which frees the decompressor and hands the message
// to read_jpeg to throw. No object with a destructor is created between the setjmp and the calls
// that may jump, so the jump skips none.
#include <algorithm>
#include <csetjmp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "io/image_read.h"
#include "tensor/error.h"
// clang-format off
// jpeglib.h uses size_t and FILE without including their headers.
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

namespace promoe::io {

namespace {

// libjpeg's working memory cap (its coefficient buffers for progressive files are the largest).
constexpr long kMaxJpegMemory = 512L << 20;
// Every 8 x 8 block's DC coefficient takes at least one bit of Huffman code, so a file of S bytes
// holds at most 512 S pixels; 16 times that is allowed (arithmetic coding can go below a bit per
// block, and only huge flat images would come near).
constexpr uint64_t kMaxPixelsPerByte = 8192;

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (corrupt data libjpeg recovers from) pass, as they do in Pillow, except for a file that
// ends early: Pillow refuses a truncated image, so that is an error here too.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

// Pillow's CMYK -> RGB: (255 - k) - c (255 - k) / 255 per channel, with its rounding.
uint8_t cmyk_channel(int c, int k) {
  const int nk = 255 - k, t = c * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Decodes into `img`; returns false with libjpeg's message in `message` on a fatal error.
bool decode(const std::vector<unsigned char>& bytes, Image& img, std::string& message, bool& too_large) {
  const uint64_t max_pixels = std::min<uint64_t>(uint64_t(kMaxImagePixels), kMaxPixelsPerByte * bytes.size());
  std::vector<unsigned char> scanline;  // a decoded greyscale or CMYK row, before conversion to RGB
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  if (setjmp(err.jump)) {
    message = err.message;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = kMaxJpegMemory;
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
  if (uint64_t(cinfo.image_width) * uint64_t(cinfo.image_height) > max_pixels) {
    img.width = cinfo.image_width;
    img.height = cinfo.image_height;
    too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_start_decompress(&cinfo);
  const int64_t W = cinfo.output_width, H = cinfo.output_height, comps = cinfo.output_components;
  img.width = W;
  img.height = H;
  img.channels = 3;
  img.pixels.resize(size_t(W * H * 3));
  scanline.resize(size_t(W * comps));
  const bool inverted = cmyk && cinfo.saw_Adobe_marker;
  while (cinfo.output_scanline < cinfo.output_height) {
    const int64_t y = cinfo.output_scanline;
    unsigned char* out = &img.pixels[size_t(y * W * 3)];
    JSAMPROW dst = comps == 3 ? out : scanline.data();
    jpeg_read_scanlines(&cinfo, &dst, 1);
    if (comps == 3) continue;
    for (int64_t x = 0; x < W; ++x) {
      const unsigned char* p = &scanline[size_t(x * comps)];
      if (comps == 1) {
        out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = p[0];
      } else {  // CMYK, as stored; Adobe files store it inverted
        const int k = inverted ? 255 - p[3] : p[3];
        for (int c = 0; c < 3; ++c) out[3 * x + c] = cmyk_channel(inverted ? 255 - p[c] : p[c], k);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

Image read_jpeg(const std::string& path) {
  std::error_code ec;
  PROMOE_CHECK(std::filesystem::is_regular_file(path, ec), "JPEG file ", path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  PROMOE_CHECK(in, "JPEG file ", path, ": cannot open");
  const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  PROMOE_CHECK(bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF, "JPEG file ", path,
               ": not a JPEG (no start-of-image marker)");
  PROMOE_CHECK(bytes.size() < (uint64_t(1) << 31), "JPEG file ", path, ": larger than 2 GiB");
  Image img;
  std::string message;
  bool too_large = false;
  const bool ok = decode(bytes, img, message, too_large);
  PROMOE_CHECK(!too_large, "JPEG file ", path, ": its header claims ", img.width, " x ", img.height,
               " pixels, more than its ", bytes.size(), " bytes can hold (or beyond ", kMaxImagePixels, ")");
  PROMOE_CHECK(ok, "JPEG file ", path, ": cannot decode (", message, ")");
  return img;
}

}  // namespace promoe::io
