// The training loop.
#include "training/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "diffusion/gaussian_diffusion.h"
#include "diffusion/rectified_flow.h"
#include "io/atomic_file.h"
#include "io/fashion_mnist.h"
#include "io/latent_source.h"
#include "io/latents.h"
#include "tensor/precision.h"
#include "training/checkpoint.h"
#include "training/data_check.h"
#include "training/data_parallel.h"
#include "training/expert_shards.h"
#include "training/latent_batches.h"
#include "training/progress.h"
#include "training/routing_report.h"
#include "training/run_log.h"
#include "training/validation.h"

namespace promoe::training {

namespace {

struct Dataset {
  Tensor images, labels;  // (N, C, H, W) f32, (N) i64; undefined for a streamed set
  std::string name;
  std::shared_ptr<io::LatentSource> stream{};  // a streamed set (training/latent_batches.h), read per step
  int64_t stream_size = 0;                     // its entries in use (--limit)
};

// A streamed set's samples against the model: (C, H, W) and the class count.
void check_stream_fits_model(const io::LatentSetInfo& info, const nn::DiTConfig& cfg) {
  PROMOE_CHECK(
      info.sample_channels() == cfg.in_channels && info.height == cfg.input_size && info.width == cfg.input_size,
      "data ", info.path, " has samples of shape [", info.sample_channels(), ", ", info.height, ", ", info.width,
      "] but the model expects (", cfg.in_channels, ", ", cfg.input_size, ", ", cfg.input_size, ")");
  PROMOE_CHECK(info.num_classes <= cfg.num_classes, "data ", info.path, " has ", info.num_classes,
               " classes but the model has ", cfg.num_classes);
}

Dataset load_data(const TrainOptions& o, const nn::DiTConfig& cfg) {
  Dataset d;
  if (o.data != "fashion-mnist" && io::is_streamed_latent_set(o.data) &&
      !io::fashion_mnist_available(o.data, io::Split::Train)) {
    d.stream = io::open_latent_source(o.data);
    check_stream_fits_model(d.stream->info(), cfg);
    d.name = o.data;
    d.stream_size = o.limit > 0 ? std::min(o.limit, d.stream->info().size) : d.stream->info().size;
    return d;
  }
  if (o.data == "fashion-mnist" ||
      (std::filesystem::is_directory(o.data) && io::fashion_mnist_available(o.data, io::Split::Train))) {
    std::string dir = o.data == "fashion-mnist" ? io::kFashionMnistDir : o.data;
    io::LabelledImages fm = io::load_fashion_mnist(io::Split::Train, dir, o.limit);
    d = {fm.images, fm.labels, "Fashion-MNIST " + dir};
  } else {
    io::LatentDataset l = io::load_latents(o.data);
    io::check_latent_dataset(l, o.data, cfg.num_classes);
    d = {l.latents, l.labels, o.data};
    if (o.limit > 0 && o.limit < d.images.size(0)) {
      d.images = raw::narrow(d.images, 0, 0, o.limit);
      d.labels = raw::narrow(d.labels, 0, 0, o.limit);
    }
  }
  check_data_fits_model(d.images, d.labels, cfg, d.name);
  return d;
}

// "NAME: N samples [C, H, W]", or a streamed set's description and how many of its entries are used.
std::string describe_data(const Dataset& d, int64_t used) {
  if (d.stream) return d.stream->info().describe() + ", using " + std::to_string(used);
  const Shape& s = d.images.shape();
  return d.name + ": " + std::to_string(used) + " samples " + shape_str(Shape(s.begin() + 1, s.end()));
}

std::vector<std::string> class_names(const Dataset& d, int64_t classes) {
  std::vector<std::string> names;
  if (classes == io::kFashionMnistClasses && d.name.rfind("Fashion-MNIST", 0) == 0)
    for (const char* n : io::fashion_mnist_class_names()) names.push_back(n);
  return names;
}

// Analyses the routing, writes the report when `write` and returns the blocks' specialisation for
// the log.
nlohmann::json write_routing(nn::DiT& model, const ModelSpec& spec, const Dataset& d, double latent_scale,
                             const std::string& dir, bool write) {
  const RoutingAnalysis options;
  LatentBatch streamed;
  if (d.stream)
    streamed = latent_routing_examples(*d.stream, uint64_t(d.stream_size), spec.dit.num_classes, options.per_class,
                                       latent_scale);
  const moe::RoutingStats stats = d.stream ? analyse_routing(model, spec, streamed.x0, streamed.labels, options)
                                           : analyse_routing(model, spec, d.images, d.labels, options);
  if (write) write_routing_report(stats, dir, class_names(d, spec.dit.num_classes));
  return specialisation_json(stats);
}

void validate(const TrainOptions& o) {
  PROMOE_CHECK(o.objective == "rf" || o.objective == "ddpm", "train: unknown objective '", o.objective,
               "' (expected rf or ddpm)");
  PROMOE_CHECK(o.steps > 0, "train: --steps must be positive, got ", o.steps);
  PROMOE_CHECK(o.batch > 0, "train: --batch must be positive, got ", o.batch);
  PROMOE_CHECK(o.limit == -1 || o.limit > 0, "train: --limit must be positive or -1 (all), got ", o.limit);
  PROMOE_CHECK(o.lr > 0 && std::isfinite(o.lr), "train: --lr must be positive, got ", o.lr);
  PROMOE_CHECK(o.ema_decay >= 0 && o.ema_decay <= 1, "train: --ema-decay must be in [0, 1], got ", o.ema_decay);
  PROMOE_CHECK(o.checkpoint_every > 0 && o.log_every > 0, "train: --checkpoint-every and --log-every must be positive");
  PROMOE_CHECK(o.latent_scale >= 0 && std::isfinite(o.latent_scale), "train: --latent-scale must be >= 0, got ",
               o.latent_scale);
  PROMOE_CHECK(o.val_every >= 0 && o.val_size > 0, "train: --val-every must be >= 0 and --val-size positive");
}

}  // namespace

std::string TrainOptions::to_json() const {
  nlohmann::json j{{"preset", preset},       {"data", data},   {"objective", objective},
                   {"steps", steps},         {"batch", batch}, {"lr", lr},
                   {"warmup", warmup},       {"clip", clip},   {"weight_decay", weight_decay},
                   {"ema_decay", ema_decay}, {"seed", seed},   {"limit", limit},
                   {"precision", precision}};
  if (latent_scale > 0) j["latent_scale"] = latent_scale;
  if (expert_parallel) j["expert_parallel"] = true;
  if (!model_edits.empty()) j["model_edits"] = nlohmann::json::parse(describe(model_edits));
  return j.dump();
}

TrainSummary train(const TrainOptions& o) {
  validate(o);
  const GemmPrecision precision = parse_gemm_precision(o.precision);
  ModelSpec spec = edited_spec(o.preset, o.model_edits);
  const std::string model_config = spec.to_json();
  Dataset data = load_data(o, spec.dit);
  Dataset held_out;  // the validation split
  if (o.val_every > 0) {
    PROMOE_CHECK(data.name.rfind("Fashion-MNIST", 0) == 0,
                 "train: --val-every needs a held-out split, which only "
                 "Fashion-MNIST data has (its test set)");
    const std::string dir = o.data == "fashion-mnist" ? io::kFashionMnistDir : o.data;
    io::LabelledImages t = io::load_fashion_mnist(io::Split::Test, dir, o.val_size);
    held_out = {t.images, t.labels, "Fashion-MNIST test " + dir};
  }

  const Device device = parse_device(o.device);
  std::shared_ptr<nn::DiT> model = spec.build(o.seed);  // every expert, then (expert parallel) only this rank's
  const int64_t all_parameters = model->num_parameters();
  if (o.expert_parallel) {
    PROMOE_CHECK(spec.moe, "train: --expert-parallel needs a MoE model; ", o.preset, " is dense");
    moe::shard_experts(*model, dist::for_device(device).duplicate());
  }
  model->to(device);
  model->train(true);
  NamedTensors params = model->named_parameters();
  const std::vector<moe::ShardedParameter> sharded = moe::sharded_parameters(*model);
  std::vector<Tensor> rank_local;
  for (const moe::ShardedParameter& p : sharded) rank_local.push_back(p.tensor);
  nn::AdamW opt(params, {o.lr, 0.9, 0.999, 1e-8, o.weight_decay});
  nn::Ema ema(params, o.ema_decay);
  DataParallel dp(params, device, o.batch, int64_t(o.bucket_mb * 1024 * 1024), rank_local);
  dp.broadcast_parameters();
  // Under expert parallelism a forward needs every rank: validation and routing analysis run on all
  // of them (on the same inputs), rank 0 writes.
  const bool forward_on_all = o.expert_parallel;
  if (dp.ranks() > 1 && dp.is_root() && o.progress)
    std::printf("data parallel: %d ranks x batch %lld, %.2f MB of gradients per step in %lld all-reduces\n", dp.ranks(),
                (long long)dp.shard().count, double(dp.gradient_bytes_per_step()) / 1e6, (long long)dp.buckets());
  if (o.expert_parallel && dp.is_root() && o.progress) {
    int64_t own = 0;
    for (const Tensor& t : rank_local) own += t.numel();
    std::printf(
        "expert parallel: %d ranks, each holding %lld of the model's %lld parameters (%lld in its own experts)\n",
        dp.ranks(), (long long)model->num_parameters(), (long long)all_parameters, (long long)own);
  }
  uint64_t seed = o.seed;  // the key of every draw (training/step_draws.h); a resumed run keeps its own

  std::filesystem::create_directories(o.out);
  const std::string ckpt = o.out + "/checkpoint.safetensors", log_path = o.out + "/log.jsonl";
  if (dp.is_root()) io::remove_stale_temp_files(ckpt);
  int64_t step = 0;
  // What a failure message points the user to: a checkpoint that really holds this run's finite
  // state (save_checkpoint refuses non-finite ones), or the fact that none was written yet.
  std::string last_good = "No checkpoint was written yet.";
  if (o.resume) {
    PROMOE_CHECK(std::filesystem::exists(ckpt), "train: --resume given but ", ckpt, " does not exist");
    CheckpointState s = load_checkpoint(ckpt, *model, &ema, &opt, model_config);
    step = s.step;
    seed = s.rng_seed;
    if (dp.is_root()) truncate_log_to_step(log_path, step);
    last_good = "The last good checkpoint is " + ckpt + " (step " + std::to_string(step) + ").";
  }
  auto diverged = [&](const std::string& what, int64_t at) {
    PROMOE_FAIL("train: ", what, " at step ", at, "; stopping. ", last_good);
  };
  auto save = [&](int64_t at, double grad_norm) {
    try {
      const CheckpointState state{model_config, o.to_json(), at, seed, 0};
      if (sharded.empty()) {
        if (dp.is_root()) save_checkpoint(ckpt, *model, ema, opt, state);
      } else {  // every rank sends its experts to rank 0
        const io::NamedTensors all = gather_expert_shards(checkpoint_tensors(*model, ema, opt), sharded, dist::world());
        if (dp.is_root()) write_checkpoint(ckpt, all, opt.step_count, state);
      }
    } catch (const NonFiniteState& e) {
      diverged(
          "the update left non-finite values in " + e.tensor + " (gradient norm " + std::to_string(grad_norm) + ")",
          at);
    }
    last_good = "The last good checkpoint is " + ckpt + " (step " + std::to_string(at) + ").";
  };

  std::ofstream log;
  if (dp.is_root()) {
    log.open(log_path, o.resume ? std::ios::app : std::ios::trunc);
    PROMOE_CHECK(log, "train: cannot write ", o.out, "/log.jsonl");
  }
  const diffusion::GaussianDiffusion ddpm = diffusion::GaussianDiffusion::create("");
  Progress progress(o.steps, step, o.progress && dp.is_root());
  TrainSummary summary{step, step, 0, ckpt};
  const int64_t n = data.stream ? data.stream_size : data.images.size(0);
  if (dp.is_root()) {
    std::printf("data: %s\n", describe_data(data, n).c_str());
    std::fflush(stdout);
  }
  const int64_t end = o.stop_after > 0 ? std::min(o.steps, step + o.stop_after) : o.steps;
  double loss_sum = 0;
  int64_t loss_count = 0;

  while (step < end) {
    StepBatch b;
    if (data.stream) {  // entries in epoch order, posterior draws keyed by (seed, position)
      const BatchShard& shard = dp.shard();
      LatentBatch l = latent_batch(*data.stream, seed, uint64_t(n), uint64_t(step), uint64_t(o.batch), o.latent_scale,
                                   uint64_t(shard.begin), uint64_t(shard.count));
      b = draw_step_noise(seed, step, shard, raw::to(l.x0, device), raw::to(l.labels, device), o.objective == "rf",
                          ddpm.num_timesteps, device);
    } else {
      b = draw_step_batch(seed, step, dp.shard(), data.images, data.labels, o.objective == "rf", ddpm.num_timesteps,
                          device);
    }
    double loss_value = 0, aux_value = 0;
    {
      GemmPrecisionGuard gemms(precision);  // the products of forward and backward
      nn::ForwardContext ctx;
      ctx.generator = &b.class_dropout;
      if (o.global_routing_losses) ctx.replica_sum = &dp.replica_sum();
      ctx.aux = true;
      auto denoiser = [&](const Tensor& x, const Tensor& t, const Tensor& labels) {
        return model->forward(x, t, labels, ctx);
      };
      Tensor loss = o.objective == "rf" ? diffusion::rf_training_loss(denoiser, b.x0, b.y, b.sigma, b.noise).loss
                                        : ddpm.training_losses(denoiser, b.x0, b.y, b.t, b.noise).loss;
      Tensor total = loss;
      for (auto& [name, aux] : ctx.aux_losses) {
        total = total + aux;
        aux_value += aux.item();
      }
      loss_value = loss.item();
      if (!std::isfinite(loss_value) || !std::isfinite(aux_value))
        diverged("the loss became " + std::to_string(loss_value + aux_value), step + 1);
      dp.backward(total);
    }
    const std::vector<double> means = dp.mean({loss_value, aux_value});  // of the global batch
    loss_value = means[0];
    aux_value = means[1];
    // The norm is computed with or without clipping: a non-finite gradient must not reach the
    // optimizer moments.
    const nn::GradClip clip = dp.grad_clip(params, o.clip > 0 ? o.clip : std::numeric_limits<double>::infinity());
    const double grad_norm = clip.norm;
    if (!std::isfinite(grad_norm)) diverged("the gradient norm became " + std::to_string(grad_norm), step + 1);
    opt.lr_scale = o.warmup > 0 ? std::min(1.0, double(step + 1) / double(o.warmup)) : 1.0;
    opt.step(clip.scale);
    opt.zero_grad();
    ema.update(params);
    ++step;

    loss_sum += loss_value;
    ++loss_count;
    progress.update(step, loss_value);
    const bool val_due = o.val_every > 0 && step % o.val_every == 0;  // on fixed steps, so resumed logs match
    const bool routing_due = spec.moe && (o.routing_every > 0 ? step % o.routing_every == 0 : step == o.steps);
    const nlohmann::json specialisation =
        routing_due && (dp.is_root() || forward_on_all)
            ? write_routing(*model, spec, data, o.latent_scale, o.out + "/routing", dp.is_root())
            : nlohmann::json();
    const double val_loss = val_due && (dp.is_root() || forward_on_all)
                                ? validation_loss(*model, o.objective, held_out.images, held_out.labels)
                                : 0.0;
    if (dp.is_root() && (step % o.log_every == 0 || step == end || val_due || routing_due)) {
      nlohmann::json line{{"step", step},
                          {"loss", loss_sum / double(loss_count)},
                          {"aux", aux_value},
                          {"grad_norm", grad_norm},
                          {"lr", o.lr * opt.lr_scale},
                          {"elapsed_s", progress.elapsed_seconds()}};
      if (val_due) line["val_loss"] = val_loss;
      if (routing_due) line["specialisation"] = specialisation;
      log << line.dump() << "\n" << std::flush;
    }
    if (step % o.log_every == 0 || step == end || val_due || routing_due) {
      loss_sum = 0;
      loss_count = 0;
    }
    if (step % o.checkpoint_every == 0 || step == end) save(step, grad_norm);
    summary.final_loss = loss_value;
  }
  progress.finish();
  if (o.expert_parallel && dp.ranks() > 1 && dp.is_root() && o.progress && step > summary.first_step)
    std::printf("expert parallel: rank 0 sent %.3f MB per step in forward all-to-alls (backward sends as much again)\n",
                double(moe::expert_exchange_bytes(*model)) / 1e6 / double(step - summary.first_step));
  summary.last_step = step;
  return summary;
}

}  // namespace promoe::training
