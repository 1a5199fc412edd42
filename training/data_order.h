// The order in which a streamed data set is visited, and the per-sample random draws, as pure
// functions of (seed, step, position) so that a resumed run and every data-parallel rank agree
// without any shared or saved stream state.
//
// Epochs without replacement: epoch e visits the set's n indices in the order of a pseudo-random
// permutation drawn from (seed, e); the epochs are concatenated and step s takes the global
// positions [s*B, (s+1)*B) of that sequence (a batch may straddle two epochs). The permutation is
// a keyed Feistel network on the smallest even-bit power of two >= n, cycle-walked into [0, n), so
// looking up one position costs a few Philox calls and no memory proportional to n.
//
// Per-sample draws (which of a sample's stored variants, the posterior noise) are keyed by the
// global position g = s*B + j, so rank r of R taking positions j in its slice of the batch draws
// exactly what a single process would.
#pragma once
#include <cstdint>
#include <vector>

namespace promoe::training {

// What a keyed draw is for; each purpose is an independent family of streams.
enum class DrawPurpose : uint32_t { EpochOrder = 1, Variant = 2, PosteriorNoise = 3 };

// A 64-bit Philox key for the draws of `purpose` about `subject` (an epoch, or a global sample
// position) under `seed`.
uint64_t draw_key(uint64_t seed, DrawPurpose purpose, uint64_t subject);

// A pseudo-random bijection of [0, n), n >= 1, fixed by (seed, epoch).
class EpochPermutation {
 public:
  EpochPermutation(uint64_t seed, uint64_t epoch, uint64_t n);
  uint64_t operator()(uint64_t position) const;  // position in [0, n) -> index in [0, n)
  uint64_t size() const { return n_; }

 private:
  uint64_t feistel(uint64_t x) const;  // a bijection of [0, 2^(2*half_bits_))
  uint64_t n_, key_;
  uint32_t half_bits_;
};

// The data-set index at global position g (epoch g / n, place g % n in that epoch's permutation).
uint64_t index_at(uint64_t seed, uint64_t n, uint64_t global_position);

// The global positions of step s's batch, [s*B, (s+1)*B), and the data-set indices there, in
// order. A rank of a data-parallel run takes a contiguous slice of both.
uint64_t global_position(uint64_t step, uint64_t batch, uint64_t j);
std::vector<int64_t> global_batch_indices(uint64_t seed, uint64_t n, uint64_t step, uint64_t batch);

// Keyed per-sample draws at global position g: a uniform integer in [0, k) (the stored variant,
// e.g. unflipped or flipped), and `count` standard normals (the posterior noise ε), written to out.
uint64_t sample_choice(uint64_t seed, uint64_t global_position, uint64_t k);
void sample_normals(uint64_t seed, uint64_t global_position, float* out, uint64_t count);

}  // namespace promoe::training
