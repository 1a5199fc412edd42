// 8-bit images to the posterior parameters the official ProMoE preprocessing stores per image
// (preprocess/preprocess_vae.py): the image as torchvision's ToTensor + Normalize(0.5, 0.5) makes
// it, (v / 255 - 0.5) / 0.5 in float32, encoded as is and mirrored left to right.
#pragma once
#include <vector>

#include "io/png.h"
#include "vae/autoencoder_kl.h"

namespace promoe::vae {

// An image (H, W, C interleaved bytes) as the VAE's input (C, H, W) f32 in [-1, 1]; mirrored
// left to right when `flip` (torch.flip(x, dims=[3]) of the normalised image).
Tensor image_to_input(const io::Image& img, bool flip = false);

struct EncodedImages {
  Tensor latent, latent_flip;  // (B, 2 * latent, h, w) f32 on the CPU: moments(x), moments(flip(x))
};

// Encodes B images of one size (each side a multiple of the downsample factor, in_channels
// channels) and their mirror images as one batch of 2B on the model's device, without gradients.
EncodedImages encode_with_flip(const AutoencoderKL& vae, const std::vector<io::Image>& images);

}  // namespace promoe::vae
