// Class-conditional generation for `promoe sample` and the end of `promoe train`: per_class samples
// of every class (rows of a grid, one per class), with the EMA weights, classifier-free guidance and
// the sampler of the training objective (Euler for RF; DDPM or DDIM for DDPM).
#pragma once
#include <string>
#include <vector>

#include "nn/dit.h"

namespace promoe::training {

struct SampleOptions {
  int64_t per_class = 8;        // used when `labels` is empty
  std::vector<int64_t> labels;  // the class of each sample, in order (see sample_labels)
  Tensor noise;                 // optional (N, C, H, W) initial noise, one per label (see read_noise)
  int64_t steps = 50;
  double cfg_scale = 1.5;
  std::string sampler = "euler";  // euler | ddpm | ddim
  uint64_t seed = 0;
  int64_t batch = 64;              // samples per model call
  std::string precision = "fp32";  // matrix products: fp32 | bf16 (tensor/precision.h)
  bool progress = true;
};

// (num_classes * per_class, C, H, W) with class 0's samples first, or one sample per entry of
// options.labels. The initial noise is options.noise where given (the same noise then gives the
// same samples as the official sample.py), else drawn from options.seed. Batches run as parallel
// jobs (tensor/jobs.h) where the sampler draws nothing after the initial noise (euler, ddim); the
// samples are those of sampling one batch after another, bit for bit.
Tensor generate(const nn::DiT& model, const SampleOptions& options);

// The labels of `num` samples: "balanced" (num / classes of each class in class order, the
// remainder one more for the first classes), "uniform" (each drawn at random from `seed`), or a
// file: the tensor "labels" of a .safetensors file, a .npy of integers or a text file of
// whitespace-separated integers, each in [0, classes).
std::vector<int64_t> sample_labels(const std::string& mode, int64_t num, int64_t classes, uint64_t seed);

// The initial noise of `sample --noise`: the tensor "noise" of a .safetensors file, or a .npy
// array, of shape (N, C, H, W) or the official sample.py's (N, C, 1, H, W), as an f32
// (N, C, H, W) tensor; throws naming the file unless C, H, W are the model's.
Tensor read_noise(const std::string& path, const nn::DiTConfig& cfg);

// Throws unless the sampler fits the training objective: euler for rf, ddpm or ddim for ddpm.
void check_sampler_fits(const std::string& sampler, const std::string& objective);

}  // namespace promoe::training
