// Class-conditional sampling in batches.
#include "training/sampling.h"

#include <cstdio>

#include "autograd/ops.h"
#include "diffusion/samplers.h"
#include "tensor/precision.h"

namespace promoe::training {

Tensor generate(const nn::DiT& model, const SampleOptions& o) {
  PROMOE_CHECK(o.per_class > 0 && o.steps > 0 && o.batch > 0,
               "sample: --per-class, --steps and --batch must be positive");
  PROMOE_CHECK(o.cfg_scale >= 1.0, "sample: --cfg must be >= 1, got ", o.cfg_scale);
  PROMOE_CHECK(o.sampler == "euler" || o.sampler == "ddpm" || o.sampler == "ddim", "sample: unknown sampler '",
               o.sampler, "' (expected euler, ddpm or ddim)");
  const nn::DiTConfig& cfg = model.config;
  const int64_t total = cfg.num_classes * o.per_class;
  std::vector<int64_t> labels;
  for (int64_t c = 0; c < cfg.num_classes; ++c)
    for (int64_t i = 0; i < o.per_class; ++i) labels.push_back(c);
  const GemmPrecisionGuard gemms(parse_gemm_precision(o.precision));
  NoGradGuard ng;
  Generator gen(o.seed);
  diffusion::DenoiserFn fn = [&model](const Tensor& x, const Tensor& t, const Tensor& y) {
    return model.forward(x, t, y);
  };
  std::vector<Tensor> parts;
  for (int64_t at = 0; at < total; at += o.batch) {
    const int64_t b = std::min(o.batch, total - at);
    Tensor y = raw::from_vector<int64_t>(std::vector<int64_t>(labels.begin() + at, labels.begin() + at + b), {b},
                                         model.pos_embed.device());
    Shape shape{b, cfg.in_channels, cfg.input_size, cfg.input_size};
    auto progress = [&](int64_t step, int64_t steps) {
      if (o.progress && (step + 1 == steps || step % 10 == 0))
        std::fprintf(stderr, "\rsampling %lld/%lld  step %lld/%lld ", (long long)(at + b), (long long)total,
                     (long long)(step + 1), (long long)steps);
    };
    if (o.sampler == "euler") {
      diffusion::RFSampleOptions so;
      so.steps = o.steps;
      so.cfg_scale = o.cfg_scale;
      so.num_classes = cfg.num_classes;
      so.progress = progress;
      parts.push_back(diffusion::rf_euler_sample(fn, shape, y, gen, so));
    } else {
      diffusion::DDPMSampleOptions so;
      so.steps = o.steps;
      so.cfg_scale = o.cfg_scale;
      so.num_classes = cfg.num_classes;
      so.progress = progress;
      parts.push_back(o.sampler == "ddpm" ? diffusion::ddpm_sample(fn, shape, y, gen, so)
                                          : diffusion::ddim_sample(fn, shape, y, gen, so));
    }
  }
  if (o.progress) std::fprintf(stderr, "\n");
  return raw::to(raw::cat(parts, 0), Device::cpu());
}

}  // namespace promoe::training
