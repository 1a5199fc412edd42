// Keyed per-sample draws.
#include "training/step_draws.h"

#include "diffusion/rectified_flow.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/philox.h"

namespace promoe::training {

uint64_t step_stream_key(uint64_t seed, int64_t step, DrawKind kind) {
  // One Philox block of (step, kind) under the seed: distinct (step, kind) pairs give unrelated keys.
  const uint64_t counter = (uint64_t(step) << 8) | uint64_t(kind);
  const philox::U4 r = philox::philox4x32_10(counter, seed);
  return (uint64_t(r.x[1]) << 32) | r.x[0];
}

BatchShard rank_shard(int64_t global_batch, int rank, int ranks) {
  PROMOE_CHECK(ranks > 0 && rank >= 0 && rank < ranks, "train: rank ", rank, " of ", ranks);
  PROMOE_CHECK(global_batch % ranks == 0, "train: --batch ", global_batch, " (the global batch) does not divide among ",
               ranks, " ranks");
  const int64_t share = global_batch / ranks;
  return {share * rank, share};
}

Generator step_generator(uint64_t seed, int64_t step, DrawKind kind, int64_t begin, int64_t per_sample) {
  PROMOE_CHECK(step >= 0 && begin >= 0 && per_sample > 0, "step_generator: bad position");
  return Generator(step_stream_key(seed, step, kind), uint64_t(begin) * uint64_t(per_sample));
}

Tensor step_data_indices(uint64_t seed, int64_t step, const BatchShard& shard, int64_t n) {
  Generator gen = step_generator(seed, step, DrawKind::DataIndex, shard.begin);
  return gen.randint({shard.count}, 0, n);
}

StepBatch draw_step_batch(uint64_t seed, int64_t step, const BatchShard& shard, const Tensor& images,
                          const Tensor& labels, bool rectified_flow, int64_t num_timesteps, Device device) {
  const Tensor idx = step_data_indices(seed, step, shard, images.size(0));
  return draw_step_noise(seed, step, shard, raw::to(raw::index_select(images, 0, idx), device),
                         raw::to(raw::index_select(labels, 0, idx), device), rectified_flow, num_timesteps, device);
}

StepBatch draw_step_noise(uint64_t seed, int64_t step, const BatchShard& shard, Tensor x0, Tensor y,
                          bool rectified_flow, int64_t num_timesteps, Device device) {
  StepBatch b;
  b.x0 = std::move(x0);
  b.y = std::move(y);
  const int64_t per_sample = b.x0.numel() / std::max<int64_t>(shard.count, 1);
  if (rectified_flow) {
    Generator g = step_generator(seed, step, DrawKind::Sigma, shard.begin);
    b.sigma = diffusion::rf_sample_sigma(g, shard.count, {}, b.x0.dtype(), device);
  } else {
    Generator g = step_generator(seed, step, DrawKind::Timestep, shard.begin);
    b.t = g.randint({shard.count}, 0, num_timesteps, device);
  }
  Generator g = step_generator(seed, step, DrawKind::Noise, shard.begin, per_sample);
  b.noise = g.randn(b.x0.shape(), b.x0.dtype(), device);
  b.class_dropout = step_generator(seed, step, DrawKind::ClassDropout, shard.begin);
  return b;
}

}  // namespace promoe::training
