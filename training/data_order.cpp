// Keyed Feistel epoch permutations and per-position Philox draws (data_order.h).
#include "training/data_order.h"

#include <cmath>

#include "tensor/error.h"
#include "tensor/philox.h"

namespace promoe::training {

namespace {

uint64_t words64(const philox::U4& r) { return uint64_t(r.x[0]) | (uint64_t(r.x[1]) << 32); }

constexpr int kFeistelRounds = 8;

}  // namespace

uint64_t draw_key(uint64_t seed, DrawPurpose purpose, uint64_t subject) {
  const uint64_t purpose_key = words64(philox::philox4x32_10(uint64_t(purpose), seed));
  return words64(philox::philox4x32_10(subject, purpose_key));
}

EpochPermutation::EpochPermutation(uint64_t seed, uint64_t epoch, uint64_t n)
    : n_(n), key_(draw_key(seed, DrawPurpose::EpochOrder, epoch)) {
  PROMOE_CHECK(n >= 1 && n <= (uint64_t(1) << 62), "data order: set size ", n, " is outside [1, 2^62]");
  uint32_t bits = 2;
  while (bits < 62 && (uint64_t(1) << bits) < n) ++bits;
  half_bits_ = (bits + 1) / 2;
}

uint64_t EpochPermutation::feistel(uint64_t x) const {
  const uint64_t mask = (uint64_t(1) << half_bits_) - 1;
  uint64_t left = x >> half_bits_, right = x & mask;
  for (int r = 0; r < kFeistelRounds; ++r) {
    const uint64_t f = philox::philox4x32_10(right | (uint64_t(r) << 32), key_).x[0] & mask;
    const uint64_t next = left ^ f;
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

uint64_t EpochPermutation::operator()(uint64_t position) const {
  PROMOE_CHECK(position < n_, "data order: position ", position, " is outside [0, ", n_, ")");
  // Cycle walking: the bijection of the power-of-two domain, applied until it lands in [0, n),
  // restricts to a bijection of [0, n). The domain is under 4n, so under 4 rounds are expected.
  uint64_t x = feistel(position);
  while (x >= n_) x = feistel(x);
  return x;
}

uint64_t index_at(uint64_t seed, uint64_t n, uint64_t global_position) {
  return EpochPermutation(seed, global_position / n, n)(global_position % n);
}

uint64_t global_position(uint64_t step, uint64_t batch, uint64_t j) {
  PROMOE_CHECK(batch > 0 && j < batch, "data order: position ", j, " is outside a batch of ", batch);
  PROMOE_CHECK(step <= (uint64_t(1) << 62) / batch, "data order: step ", step, " of batch ", batch,
               " is beyond 2^62 samples");
  return step * batch + j;
}

std::vector<int64_t> global_batch_indices(uint64_t seed, uint64_t n, uint64_t step, uint64_t batch) {
  std::vector<int64_t> out(batch);
  const uint64_t first = global_position(step, batch, 0);
  // One permutation object per epoch touched (a batch straddles at most a few).
  uint64_t epoch = first / n;
  EpochPermutation perm(seed, epoch, n);
  for (uint64_t j = 0; j < batch; ++j) {
    const uint64_t g = first + j;
    if (g / n != epoch) {
      epoch = g / n;
      perm = EpochPermutation(seed, epoch, n);
    }
    out[j] = int64_t(perm(g % n));
  }
  return out;
}

uint64_t sample_choice(uint64_t seed, uint64_t global_position, uint64_t k) {
  PROMOE_CHECK(k >= 1, "data order: a choice among no variants");
  const uint64_t r = words64(philox::philox4x32_10(0, draw_key(seed, DrawPurpose::Variant, global_position)));
  return uint64_t((unsigned __int128)r * k >> 64);
}

void sample_normals(uint64_t seed, uint64_t global_position, float* out, uint64_t count) {
  const uint64_t key = draw_key(seed, DrawPurpose::PosteriorNoise, global_position);
  // Box-Muller, both outputs of each block: normals 2i and 2i+1 from block i.
  for (uint64_t i = 0; 2 * i < count; ++i) {
    const philox::U4 r = philox::philox4x32_10(i, key);
    const double radius = std::sqrt(-2.0 * std::log(philox::to_unit(r.x[0])));
    const double angle = 6.283185307179586 * philox::to_unit(r.x[1]);
    out[2 * i] = float(radius * std::cos(angle));
    if (2 * i + 1 < count) out[2 * i + 1] = float(radius * std::sin(angle));
  }
}

}  // namespace promoe::training
