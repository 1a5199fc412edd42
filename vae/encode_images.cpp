// Image bytes to VAE input, and the paired encode.
#include "vae/encode_images.h"

#include "autograd/node.h"
#include "tensor/ops.h"

namespace promoe::vae {

Tensor image_to_input(const io::Image& img, bool flip) {
  const int64_t H = img.height, W = img.width, C = img.channels;
  PROMOE_CHECK(H >= 1 && W >= 1 && C >= 1 && img.pixels.size() == size_t(H * W * C), "vae encode: image ", W, " x ", H,
               " x ", C, " with ", img.pixels.size(), " bytes is malformed");
  Tensor x = Tensor::empty({C, H, W}, DType::F32);
  float* out = x.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t i = 0; i < W; ++i) {
        const int64_t src = flip ? W - 1 - i : i;
        // torchvision: to_tensor divides by 255 in float32, Normalize subtracts 0.5 and divides by 0.5.
        out[(c * H + y) * W + i] = (float(img.pixels[size_t((y * W + src) * C + c)]) / 255.0f - 0.5f) / 0.5f;
      }
  return x;
}

EncodedImages encode_with_flip(const AutoencoderKL& vae, const std::vector<io::Image>& images) {
  PROMOE_CHECK(!images.empty(), "vae encode: no images");
  const int64_t B = int64_t(images.size());
  std::vector<Tensor> parts;
  for (bool flip : {false, true})
    for (const io::Image& img : images) {
      PROMOE_CHECK(
          img.width == images[0].width && img.height == images[0].height && img.channels == vae.config().in_channels,
          "vae encode: images of one batch must share their size and have ", vae.config().in_channels, " channels (",
          img.width, " x ", img.height, " x ", img.channels, ")");
      parts.push_back(image_to_input(img, flip));
    }
  NoGradGuard no_grad;
  const Tensor& w = vae.encoder->conv_in->weight;  // the model's device and dtype
  const Tensor x = raw::to(raw::stack(parts, 0), w.dtype(), w.device());
  const Tensor m = raw::to(vae.moments(x), DType::F32, Device::cpu());
  return {raw::contiguous(raw::narrow(m, 0, 0, B)), raw::contiguous(raw::narrow(m, 0, B, B))};
}

}  // namespace promoe::vae
