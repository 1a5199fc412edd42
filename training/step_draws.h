// The random draws of one training step, keyed so that they depend on the seed, the step and a
// sample's position in the global batch only — not on how many ranks share the batch, nor on
// anything drawn before. Each kind of draw is a Philox stream of its own, keyed by (seed, step,
// kind); sample p of the global batch owns values p·k .. p·k + k − 1 of it (k values per sample:
// 1 for its data index, its σ or timestep and its class-dropout draw, C·H·W for its noise). A rank
// holding positions [begin, begin + count) therefore draws exactly the values one process drawing
// the whole batch uses for them, and a run resumed at step s draws what it would have drawn.
#pragma once
#include <cstdint>

#include "tensor/random.h"

namespace promoe::training {

enum class DrawKind : uint32_t { DataIndex = 1, Sigma = 2, Noise = 3, Timestep = 4, ClassDropout = 5 };

// The Philox key of a (seed, step, kind) stream.
uint64_t step_stream_key(uint64_t seed, int64_t step, DrawKind kind);

// Positions [begin, begin + count) of a global batch.
struct BatchShard {
  int64_t begin = 0, count = 0;
};
// Rank `rank` of `ranks` takes an equal share, in rank order; the batch must divide evenly.
BatchShard rank_shard(int64_t global_batch, int rank, int ranks);

// A generator positioned at the first value of sample `begin` in the (seed, step, kind) stream,
// `per_sample` values per sample: draw `count * per_sample` values from it for the shard.
Generator step_generator(uint64_t seed, int64_t step, DrawKind kind, int64_t begin, int64_t per_sample = 1);

// The data indices of the shard's samples at `step`: uniform in [0, n), with replacement (i64).
Tensor step_data_indices(uint64_t seed, int64_t step, const BatchShard& shard, int64_t n);

// One step's inputs for a shard: its samples, σ (rectified flow; logit-normal, diffusion's
// defaults) or integer timesteps in [0, num_timesteps) (DDPM), noise like x0, and the generator
// the model's class dropout draws one value per sample from.
struct StepBatch {
  Tensor x0, y;  // (b, C, H, W) on the device, (b) i64
  Tensor sigma;  // rf: (b) in x0's dtype
  Tensor t;      // ddpm: (b) i64
  Tensor noise;  // (b, C, H, W)
  Generator class_dropout;
};
// The shard's samples drawn from an in-memory set (step_data_indices), then its draws.
StepBatch draw_step_batch(uint64_t seed, int64_t step, const BatchShard& shard, const Tensor& images,
                          const Tensor& labels, bool rectified_flow, int64_t num_timesteps, Device device);
// The draws for samples already chosen (a streamed set's batch, training/latent_batches.h):
// x0 (shard.count, C, H, W) and y (shard.count) on the device.
StepBatch draw_step_noise(uint64_t seed, int64_t step, const BatchShard& shard, Tensor x0, Tensor y,
                          bool rectified_flow, int64_t num_timesteps, Device device);

}  // namespace promoe::training
