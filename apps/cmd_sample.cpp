// `promoe sample`: class-conditional samples from a checkpoint's EMA weights: a PNG grid (one row
// per class), raw tensors (.safetensors: "samples" and "labels"), or an evaluation set (.npz:
// arr_0 uint8 N x H x W x C, arr_1 int64 labels, the ADM evaluator convention that `promoe eval`
// reads). With --noise the initial noise is given, so the same noise and labels give the samples
// the official sample.py gives (docs/CHECKPOINTS.md).
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/image_output.h"
#include "apps/option_range.h"
#include "apps/vae_decode.h"
#include "io/npz.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "training/checkpoint.h"
#include "training/model_spec.h"
#include "training/sampling.h"

namespace promoe::apps {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The training objective recorded in the checkpoint ("" when not recorded).
std::string objective_of(const training::CheckpointState& state) {
  if (state.train_config.empty()) return "";
  nlohmann::json j = nlohmann::json::parse(state.train_config, nullptr, false);
  return j.is_object() && j.contains("objective") && j["objective"].is_string() ? j["objective"].get<std::string>()
                                                                                : "";
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sample", "Sample a class grid or an evaluation set from a checkpoint");
  auto o = std::make_shared<training::SampleOptions>();
  o->sampler = "auto";
  auto ckpt = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("samples.png");
  auto threads = std::make_shared<int>(2);
  auto device = std::make_shared<std::string>("cpu");
  auto num = std::make_shared<int64_t>(0);
  auto labels = std::make_shared<std::string>("balanced");
  auto noise = std::make_shared<std::string>();
  auto vae = std::make_shared<std::string>();
  cmd->add_option("--checkpoint", *ckpt, "Checkpoint written by `promoe train`")->required();
  cmd->add_option("--out", *out, "Output: .png grid, .npz evaluation set, or .safetensors raw samples")
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--per-class", o->per_class, "Samples per class (without --num)"), 1, kMaxPerClass)
      ->capture_default_str();
  ranged<int64_t>(
      cmd->add_option("--num", *num, "Number of samples, labelled by --labels (0: --per-class of each class)"), 0,
      kMaxSamples)
      ->capture_default_str();
  auto* labels_opt = cmd->add_option("--labels", *labels,
                                     "With --num or --noise: balanced, uniform, or a file of labels (.safetensors "
                                     "tensor 'labels', .npy or text)")
                         ->capture_default_str();
  cmd->add_option("--noise", *noise,
                  "Initial noise (N, C, H, W) or (N, C, 1, H, W): .safetensors (tensor 'noise', and 'labels' unless "
                  "--labels is given) or .npy");
  ranged<int64_t>(cmd->add_option("--steps", o->steps, "Sampler steps"), 1, kMaxSamplerSteps)->capture_default_str();
  ranged(cmd->add_option("--cfg", o->cfg_scale, "Classifier-free guidance scale (1: off)"), 0.0, kMaxCfg)
      ->capture_default_str();
  cmd->add_option("--sampler", o->sampler, "auto (the objective's), euler (RF), ddpm or ddim (DDPM)")
      ->capture_default_str();
  ranged(cmd->add_option("--seed", o->seed, "Noise seed"), uint64_t(0), std::numeric_limits<uint64_t>::max())
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--batch", o->batch, "Samples per model call"), 1, kMaxBatch)->capture_default_str();
  add_threads_option(cmd, *threads);
  cmd->add_option("--device", *device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--vae", *vae,
                  "Decode the latents with this diffusers AutoencoderKL folder before writing (docs/VAE.md)");
  cmd->add_option("--precision", o->precision, "Matrix products: fp32 or bf16 (mixed precision)")
      ->capture_default_str();
  cmd->callback([o, ckpt, out, threads, device, num, labels, labels_opt, noise, vae] {
    set_threads(*threads);
    parse_gemm_precision(o->precision);  // a bad value fails before the checkpoint is read
    const bool to_npz = ends_with(*out, ".npz"), to_raw = ends_with(*out, ".safetensors"),
               to_png = ends_with(*out, ".png");
    PROMOE_CHECK(to_npz || to_raw || to_png, "sample: --out ", *out, " must end in .png, .npz or .safetensors");
    training::CheckpointState state = training::read_checkpoint_state(*ckpt);
    training::ModelSpec spec = training::ModelSpec::from_file(state.model_config, *ckpt);
    const std::string objective = objective_of(state);
    if (o->sampler == "auto") o->sampler = objective == "ddpm" ? "ddpm" : "euler";
    training::check_sampler_fits(o->sampler, objective);
    if (!noise->empty()) {
      o->noise = training::read_noise(*noise, spec.dit);
      const int64_t n = o->noise.size(0);
      PROMOE_CHECK(*num == 0 || *num == n, "sample: --num ", *num, " but --noise ", *noise, " holds ", n, " samples");
      *num = n;
      // The labels come with the noise unless --labels names others.
      if (labels_opt->count() == 0 && ends_with(*noise, ".safetensors")) *labels = *noise;
    }
    if (*num > 0) o->labels = training::sample_labels(*labels, *num, spec.dit.num_classes, o->seed);
    PROMOE_CHECK(!to_png || !vae->empty() || spec.dit.in_channels == 1 || spec.dit.in_channels == 3,
                 "sample: ", spec.dit.in_channels,
                 "-channel samples (latents) cannot be written as PNG; use --out samples.safetensors");
    const auto decoder = load_decoder(*vae, parse_device(*device), spec.dit.in_channels);
    auto model = spec.build(0);
    training::load_ema_weights(*ckpt, *model);
    model->to(parse_device(*device));
    model->train(false);
    Tensor images = training::generate(*model, *o);
    if (decoder) images = vae::decode_model_latents(*decoder, images, 4);
    const int64_t n = images.size(0);
    std::vector<int64_t> y = o->labels;
    if (y.empty())
      for (int64_t i = 0; i < n; ++i) y.push_back(i / o->per_class);
    if (to_raw) {
      io::write_safetensors(*out, io::NamedTensors{{"samples", images}, {"labels", raw::from_vector<int64_t>(y, {n})}});
    } else if (to_npz) {
      io::write_npz(*out, {{"arr_0", adm_pixel_bytes(images), true}, {"arr_1", raw::from_vector<int64_t>(y, {n})}});
    } else {
      const bool grid_of_classes = *num == 0 || *labels == "balanced";
      io::write_image_grid_png(*out, images, grid_of_classes ? std::max<int64_t>(1, n / spec.dit.num_classes) : 8);
    }
    std::printf("wrote %s (%lld samples, step %lld checkpoint, sampler %s)\n", out->c_str(), (long long)n,
                (long long)state.step, o->sampler.c_str());
  });
}

}  // namespace promoe::apps
