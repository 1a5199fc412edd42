// Class-conditional sampling in batches.
#include "training/sampling.h"

#include <cstdio>
#include <fstream>
#include <mutex>

#include "autograd/ops.h"
#include "diffusion/samplers.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "nn/transposed_weights.h"
#include "tensor/jobs.h"
#include "tensor/precision.h"

namespace promoe::training {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One model call's worth of samples: rows [at, at + n) of the labels, and their initial noise
// where it is drawn (or given) before sampling.
struct Batch {
  int64_t at, n;
  Tensor y, noise;
};

// The samples of one batch with the sampler of `o`; DDPM draws its per-step noise from `gen`.
Tensor sample_batch(const diffusion::DenoiserFn& fn, const nn::DiTConfig& cfg, const SampleOptions& o, Batch& b,
                    Generator& gen, const diffusion::ProgressFn& progress) {
  if (o.sampler == "euler") {
    diffusion::RFSampleOptions so;
    so.steps = o.steps;
    so.cfg_scale = o.cfg_scale;
    so.num_classes = cfg.num_classes;
    so.progress = progress;
    return diffusion::rf_euler_sample(fn, b.noise, b.y, so);
  }
  diffusion::DDPMSampleOptions so;
  so.steps = o.steps;
  so.cfg_scale = o.cfg_scale;
  so.num_classes = cfg.num_classes;
  so.progress = progress;
  return o.sampler == "ddpm" ? diffusion::ddpm_sample(fn, b.noise, b.y, gen, so)
                             : diffusion::ddim_sample(fn, b.noise, b.y, gen, so);
}

}  // namespace

Tensor generate(const nn::DiT& model, const SampleOptions& o) {
  PROMOE_CHECK(o.per_class > 0 && o.steps > 0 && o.batch > 0,
               "sample: --per-class, --steps and --batch must be positive");
  PROMOE_CHECK(o.cfg_scale >= 1.0, "sample: --cfg must be >= 1, got ", o.cfg_scale);
  PROMOE_CHECK(o.sampler == "euler" || o.sampler == "ddpm" || o.sampler == "ddim", "sample: unknown sampler '",
               o.sampler, "' (expected euler, ddpm or ddim)");
  const nn::DiTConfig& cfg = model.config;
  std::vector<int64_t> labels = o.labels;
  if (labels.empty())
    for (int64_t c = 0; c < cfg.num_classes; ++c)
      for (int64_t i = 0; i < o.per_class; ++i) labels.push_back(c);
  for (int64_t y : labels)
    PROMOE_CHECK(y >= 0 && y < cfg.num_classes, "sample: label ", y, " is not a class of the model (", cfg.num_classes,
                 " classes)");
  const int64_t total = int64_t(labels.size());
  if (o.noise.defined())
    PROMOE_CHECK(o.noise.dim() == 4 && o.noise.size(0) == total && o.noise.size(1) == cfg.in_channels &&
                     o.noise.size(2) == cfg.input_size && o.noise.size(3) == cfg.input_size,
                 "sample: the noise is ", describe(o.noise), ", the model samples (", total, ", ", cfg.in_channels,
                 ", ", cfg.input_size, ", ", cfg.input_size, ")");
  const GemmPrecision precision = parse_gemm_precision(o.precision);
  const Device device = model.pos_embed.device();
  diffusion::DenoiserFn fn = [&model](const Tensor& x, const Tensor& t, const Tensor& y) {
    return model.forward(x, t, y);
  };

  // Every batch's labels and initial noise, the noise drawn from `gen` in batch order (as sampling
  // one batch after another draws it).
  Generator gen(o.seed);
  std::vector<Batch> batches;
  for (int64_t at = 0; at < total; at += o.batch) {
    const int64_t b = std::min(o.batch, total - at);
    Tensor y =
        raw::from_vector<int64_t>(std::vector<int64_t>(labels.begin() + at, labels.begin() + at + b), {b}, device);
    batches.push_back(Batch{at, b, y, Tensor()});
  }
  // DDPM draws fresh noise at every step from the one generator, so its batches take turns; the
  // other samplers draw only the initial noise, so theirs can run as independent jobs.
  const bool in_turn = o.sampler == "ddpm";
  for (Batch& b : batches) {
    if (o.noise.defined())
      b.noise = raw::to(raw::contiguous(raw::narrow(o.noise, 0, b.at, b.n)), device);
    else if (!in_turn)
      b.noise = gen.randn({b.n, cfg.in_channels, cfg.input_size, cfg.input_size}, DType::F32, device);
  }

  // f32 products on the CPU read row-major copies of the weights (the same values, faster).
  nn::TransposedWeights transposed;
  nn::TransposedWeights* table = precision == GemmPrecision::FP32 ? &transposed : nullptr;
  std::vector<Tensor> parts(batches.size());
  if (in_turn || batches.size() == 1) {  // one batch at a time, each kernel on all threads
    const GemmPrecisionGuard gemms(precision);
    const nn::TransposedWeightsScope weights(table);
    NoGradGuard ng;
    for (size_t j = 0; j < batches.size(); ++j) {
      Batch& b = batches[j];
      if (!b.noise.defined())
        b.noise = gen.randn({b.n, cfg.in_channels, cfg.input_size, cfg.input_size}, DType::F32, device);
      auto progress = [&](int64_t step, int64_t steps) {
        if (o.progress && (step + 1 == steps || step % 10 == 0))
          std::fprintf(stderr, "\rsampling %lld/%lld  step %lld/%lld ", (long long)(b.at + b.n), (long long)total,
                       (long long)(step + 1), (long long)steps);
      };
      parts[j] = sample_batch(fn, cfg, o, b, gen, progress);
    }
  } else {  // batches as independent jobs, each on one thread
    std::mutex mu;
    int64_t done = 0;
    run_jobs(device, int64_t(batches.size()), [&](int64_t j) {
      const GemmPrecisionGuard gemms(precision);  // all three thread-local: set on the job's thread
      const nn::TransposedWeightsScope weights(table);
      NoGradGuard ng;
      parts[size_t(j)] = sample_batch(fn, cfg, o, batches[size_t(j)], gen, nullptr);
      std::lock_guard<std::mutex> lock(mu);
      done += batches[size_t(j)].n;
      if (o.progress) std::fprintf(stderr, "\rsampling %lld/%lld ", (long long)done, (long long)total);
    });
  }
  if (o.progress) std::fprintf(stderr, "\n");
  return raw::to(raw::cat(parts, 0), Device::cpu());
}

std::vector<int64_t> sample_labels(const std::string& mode, int64_t num, int64_t classes, uint64_t seed) {
  PROMOE_CHECK(num > 0, "sample: --num must be positive, got ", num);
  std::vector<int64_t> labels;
  if (mode == "balanced") {
    for (int64_t c = 0; c < classes; ++c)
      for (int64_t i = 0; i < num / classes + (c < num % classes ? 1 : 0); ++i) labels.push_back(c);
  } else if (mode == "uniform") {
    Generator gen(seed ^ 0x5eed1abe15ULL);  // apart from the noise stream of the same seed
    labels = gen.randint({num}, 0, classes).to_vector<int64_t>();
  } else {
    std::ifstream in(mode);
    PROMOE_CHECK(in, "sample: --labels ", mode, " is neither balanced, uniform nor a readable file");
    if (ends_with(mode, ".safetensors")) {
      labels = io::read_safetensors(mode).get_index("labels").to_vector<int64_t>();
    } else if (ends_with(mode, ".npy")) {
      Tensor t = io::read_npy(mode);
      PROMOE_CHECK(t.dtype() == DType::I64 && t.dim() == 1, "sample: --labels ", mode,
                   " must hold a 1-D integer array, got ", describe(t));
      labels = t.to_vector<int64_t>();
    } else {
      std::string word;
      while (in >> word) {
        size_t used = 0;
        int64_t v = -1;
        try {
          v = std::stoll(word, &used);
        } catch (const std::logic_error&) {
        }
        PROMOE_CHECK(used == word.size(), "sample: --labels ", mode, ": '", word, "' is not an integer");
        labels.push_back(v);
      }
    }
    PROMOE_CHECK(int64_t(labels.size()) == num, "sample: --labels ", mode, " holds ", labels.size(),
                 " labels but --num is ", num);
  }
  for (int64_t y : labels)
    PROMOE_CHECK(y >= 0 && y < classes, "sample: label ", y, " from --labels ", mode, " is not in [0, ", classes, ")");
  return labels;
}

Tensor read_noise(const std::string& path, const nn::DiTConfig& cfg) {
  Tensor t;
  if (ends_with(path, ".safetensors"))
    t = io::read_safetensors(path).get("noise");
  else if (ends_with(path, ".npy"))
    t = io::read_npy(path);
  else
    PROMOE_FAIL("sample: --noise ", path, " must be a .safetensors file (tensor 'noise') or a .npy array");
  if (t.dim() == 5 && t.size(2) == 1) t = raw::squeeze(t, 2);  // sample.py's (N, C, 1, H, W) latents
  PROMOE_CHECK(is_floating(t.dtype()) && t.dim() == 4 && t.size(1) == cfg.in_channels && t.size(2) == cfg.input_size &&
                   t.size(3) == cfg.input_size,
               "sample: --noise ", path, " holds ", describe(t), "; the model needs (N, ", cfg.in_channels, ", ",
               cfg.input_size, ", ", cfg.input_size, ") noise");
  return raw::contiguous(raw::to(t, DType::F32));
}

void check_sampler_fits(const std::string& sampler, const std::string& objective) {
  if (objective == "rf")
    PROMOE_CHECK(sampler == "euler", "sample: the checkpoint was trained with rectified flow; sampler '", sampler,
                 "' is for DDPM models (use --sampler euler)");
  if (objective == "ddpm")
    PROMOE_CHECK(sampler == "ddpm" || sampler == "ddim", "sample: the checkpoint was trained with DDPM; sampler '",
                 sampler, "' is for rectified-flow models (use --sampler ddpm or ddim)");
}

}  // namespace promoe::training
