// The building blocks of diffusers' AutoencoderKL, with its parameter names: ResnetBlock2D
// (GroupNorm, SiLU, 3x3 conv, twice, plus a 1x1 shortcut conv where the channels change),
// Downsample2D (zero padding of one row and column at the bottom and right, then a stride-2 3x3
// conv), Upsample2D (nearest 2x, then a 3x3 conv), the mid-block's single-head self-attention over
// the H*W pixels (GroupNorm, to_q / to_k / to_v, to_out.0, residual), and the mid-block itself
// (ResNet, attention, ResNet). Images are NCHW; every GroupNorm has eps 1e-6, as the VAE's.
#pragma once
#include <memory>
#include <vector>

#include "nn/image_layers.h"
#include "nn/layers.h"

namespace promoe::vae {

inline constexpr double kNormEps = 1e-6;

class ResnetBlock2D : public Module {
 public:
  ResnetBlock2D(int64_t in, int64_t out, int64_t groups, Generator& gen);
  Tensor forward(const Tensor& x) const;

  std::shared_ptr<nn::GroupNorm> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv_shortcut;  // conv_shortcut null where in == out
};

class Downsample2D : public Module {
 public:
  Downsample2D(int64_t channels, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (B, C, H, W) -> (B, C, floor(H/2), floor(W/2))

  std::shared_ptr<nn::Conv2d> conv;
};

class Upsample2D : public Module {
 public:
  Upsample2D(int64_t channels, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (B, C, H, W) -> (B, C, 2H, 2W)

  std::shared_ptr<nn::Conv2d> conv;
};

// x + to_out(attention(to_q(h), to_k(h), to_v(h))) with h = group_norm(x) as (B, H*W, C) tokens,
// one head of dimension C (scale 1/sqrt(C)): the fused attention on the concatenated projections.
class MidAttention : public Module {
 public:
  MidAttention(int64_t channels, int64_t groups, Generator& gen);
  Tensor forward(const Tensor& x) const;

  std::shared_ptr<nn::GroupNorm> group_norm;
  std::shared_ptr<nn::Linear> to_q, to_k, to_v, out;  // `out` is to_out.0
};

class MidBlock : public Module {
 public:
  MidBlock(int64_t channels, int64_t groups, bool attention, Generator& gen);
  Tensor forward(const Tensor& x) const;

  std::shared_ptr<MidAttention> attention;  // null without mid_block_add_attention
  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
};

// A down block of the encoder (DownEncoderBlock2D: resnets, then a Downsample2D unless it is the
// last) or an up block of the decoder (UpDecoderBlock2D: resnets, then an Upsample2D unless last).
class SamplingBlock : public Module {
 public:
  SamplingBlock(int64_t in, int64_t out, int64_t layers, int64_t groups, bool down, bool resample, Generator& gen);
  Tensor forward(const Tensor& x) const;

  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::shared_ptr<Downsample2D> downsampler;  // at most one of the two
  std::shared_ptr<Upsample2D> upsampler;
};

}  // namespace promoe::vae
