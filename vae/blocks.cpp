// The AutoencoderKL blocks.
#include "vae/blocks.h"

#include <string>

#include "autograd/ops.h"
#include "nn/functional.h"
#include "nn/image_ops.h"

namespace promoe::vae {

ResnetBlock2D::ResnetBlock2D(int64_t in, int64_t out, int64_t groups, Generator& gen) {
  norm1 = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, in, kNormEps));
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in, out, 3, 1, 1, gen));
  norm2 = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, out, kNormEps));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out, out, 3, 1, 1, gen));
  if (in != out) conv_shortcut = register_module("conv_shortcut", std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, gen));
}

Tensor ResnetBlock2D::forward(const Tensor& x) const {
  Tensor h = conv1->forward(silu(norm1->forward(x)));
  h = conv2->forward(silu(norm2->forward(h)));
  return (conv_shortcut ? conv_shortcut->forward(x) : x) + h;
}

Downsample2D::Downsample2D(int64_t channels, Generator& gen) {
  conv = register_module("conv", std::make_shared<nn::Conv2d>(channels, channels, 3, 2, 0, gen));
}

Tensor Downsample2D::forward(const Tensor& x) const {
  // F.pad(x, (0, 1, 0, 1)): one zero column on the right, one zero row at the bottom.
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor padded = cat({x, zeros({B, C, H, 1}, x.dtype(), x.device())}, 3);
  padded = cat({padded, zeros({B, C, 1, W + 1}, x.dtype(), x.device())}, 2);
  return conv->forward(padded);
}

Upsample2D::Upsample2D(int64_t channels, Generator& gen) {
  conv = register_module("conv", std::make_shared<nn::Conv2d>(channels, channels, 3, 1, 1, gen));
}

Tensor Upsample2D::forward(const Tensor& x) const { return conv->forward(nn::upsample_nearest2x(x)); }

MidAttention::MidAttention(int64_t channels, int64_t groups, Generator& gen) {
  group_norm = register_module("group_norm", std::make_shared<nn::GroupNorm>(groups, channels, kNormEps));
  to_q = register_module("to_q", std::make_shared<nn::Linear>(channels, channels, true, gen));
  to_k = register_module("to_k", std::make_shared<nn::Linear>(channels, channels, true, gen));
  to_v = register_module("to_v", std::make_shared<nn::Linear>(channels, channels, true, gen));
  auto to_out = register_module("to_out", std::make_shared<Container>());
  out = to_out->add("0", std::make_shared<nn::Linear>(channels, channels, true, gen));
}

Tensor MidAttention::forward(const Tensor& x) const {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor tokens = transpose(reshape(group_norm->forward(x), {B, C, H * W}), 1, 2);  // (B, N, C)
  Tensor w = cat({to_q->weight, to_k->weight, to_v->weight}, 0);                    // (3C, C): q, k, v of one head
  Tensor b = cat({*to_q->bias, *to_k->bias, *to_v->bias}, 0);
  Tensor o = out->forward(nn::attention(nn::linear(tokens, w, b), 1));  // (B, N, C)
  return x + reshape(transpose(o, 1, 2), {B, C, H, W});
}

MidBlock::MidBlock(int64_t channels, int64_t groups, bool with_attention, Generator& gen) {
  // diffusers registers the attentions before the resnets, and runs resnet, attention, resnet.
  auto attentions = register_module("attentions", std::make_shared<Container>());
  if (with_attention) attention = attentions->add("0", std::make_shared<MidAttention>(channels, groups, gen));
  auto list = register_module("resnets", std::make_shared<Container>());
  for (int i = 0; i < 2; ++i)
    resnets.push_back(list->add(std::to_string(i), std::make_shared<ResnetBlock2D>(channels, channels, groups, gen)));
}

Tensor MidBlock::forward(const Tensor& x) const {
  Tensor h = resnets[0]->forward(x);
  if (attention) h = attention->forward(h);
  return resnets[1]->forward(h);
}

SamplingBlock::SamplingBlock(int64_t in, int64_t out, int64_t layers, int64_t groups, bool down, bool resample,
                             Generator& gen) {
  auto list = register_module("resnets", std::make_shared<Container>());
  for (int64_t i = 0; i < layers; ++i)
    resnets.push_back(
        list->add(std::to_string(i), std::make_shared<ResnetBlock2D>(i == 0 ? in : out, out, groups, gen)));
  if (!resample) return;
  auto samplers = register_module(down ? "downsamplers" : "upsamplers", std::make_shared<Container>());
  if (down)
    downsampler = samplers->add("0", std::make_shared<Downsample2D>(out, gen));
  else
    upsampler = samplers->add("0", std::make_shared<Upsample2D>(out, gen));
}

Tensor SamplingBlock::forward(const Tensor& x) const {
  Tensor h = x;
  for (const auto& r : resnets) h = r->forward(h);
  if (downsampler) h = downsampler->forward(h);
  if (upsampler) h = upsampler->forward(h);
  return h;
}

}  // namespace promoe::vae
