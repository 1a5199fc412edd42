// Reading photographs (JPEG through libjpeg-turbo, PNG through stb_image) to 8-bit RGB with the
// pixels Pillow's Image.open(path).convert("RGB") gives, which is what the official ProMoE
// preprocessing feeds its VAE: JPEG decoded with libjpeg's defaults (accurate integer IDCT, fancy
// upsampling, its YCbCr -> RGB conversion), greyscale repeated over the three channels, CMYK and
// YCCK converted as Pillow converts CMYK (inverted when an Adobe marker says so), PNG alpha dropped
// and palettes expanded. The format is told by the file's first bytes, not its name. Every
// claimed size is checked before anything is allocated for it; a file that is not an image, is
// truncated or too large throws promoe::Error naming the file.
#pragma once
#include <string>

#include "io/png.h"

namespace promoe::io {

// The most pixels a JPEG may have: 2^27 (e.g. 11585 x 11585), 384 MiB of RGB, and at most 8192
// per byte of the file (16 times what its Huffman-coded DC coefficients allow).
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 27;

// A JPEG file as RGB (channels 3).
Image read_jpeg(const std::string& path);

// A JPEG or PNG file as RGB.
Image read_rgb_image(const std::string& path);

}  // namespace promoe::io
