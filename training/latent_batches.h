// Training batches drawn from a streamed latent set (io/latent_source.h) in the order of
// training/data_order.h: step s takes global positions [s*B, (s+1)*B); at position g the entry is
// index_at(seed, n, g), its variant (unflipped or flipped, when the set has flips) is drawn
// uniformly with the key (seed, g), and for posterior moments the sample is
//   (mean + exp(logvar / 2) * eps) * scaling_factor,   logvar clamped to [-30, 20],
// with eps ~ N(0, 1) keyed by (seed, g): what the official loader does with diffusers'
// DiagonalGaussianDistribution and 0.18215. Plain latents are used as stored. Only the batch's
// entries are read, so memory does not depend on the set's size.
#pragma once
#include <cstdint>

#include "io/latent_source.h"
#include "tensor/tensor.h"

namespace promoe::training {

struct LatentBatch {
  Tensor x0;      // (count, C, H, W) f32 on the CPU
  Tensor labels;  // (count) i64
};

// The samples at positions [first, first + count) of step `step`'s batch of `batch` (a
// data-parallel rank's slice; the whole batch is first = 0, count = batch), over the set's first
// `n` entries (n <= size; --limit). scale <= 0 takes the set's own scaling factor.
LatentBatch latent_batch(const io::LatentSource& source, uint64_t seed, uint64_t n, uint64_t step, uint64_t batch,
                         double scale = 0, uint64_t first = 0, uint64_t count = 0);

// One sample from stored entry values (entry_floats() floats) into out (sample floats):
// moments are drawn with `noise` (C*H*W normals), plain latents copied; both times `scale`.
void sample_from_entry(const io::LatentSetInfo& info, const float* entry, const float* noise, double scale, float* out);

// A deterministic set for routing analysis: the first `per_class` entries of each class among the
// first n, unflipped, moments at their mean (times the scaling factor). images (M, C, H, W), labels (M).
LatentBatch latent_routing_examples(const io::LatentSource& source, uint64_t n, int64_t num_classes, int64_t per_class,
                                    double scale = 0);

}  // namespace promoe::training
