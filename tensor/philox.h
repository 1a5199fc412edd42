// Philox4x32-10 counter-based generator (Salmon et al., SC'11). Draw i of stream (seed, offset)
// is a pure function of (seed, offset + i), so CPU and GPU produce the same numbers in any order.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"  // PROMOE_HD

namespace promoe::philox {

struct U4 {
  uint32_t x[4];
};

PROMOE_HD inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

PROMOE_HD inline U4 philox4x32_10(uint64_t counter, uint64_t seed) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in (0, 1], from 32 random bits (never 0, so log() is safe).
PROMOE_HD inline double to_unit(uint32_t bits) { return (double(bits) + 1.0) / 4294967296.0; }

PROMOE_HD inline double uniform(uint64_t seed, uint64_t index) { return to_unit(philox4x32_10(index, seed).x[0]); }

// Standard normal by Box-Muller on the first two words of the block.
PROMOE_HD inline double normal(uint64_t seed, uint64_t index) {
  U4 r = philox4x32_10(index, seed);
  double u1 = to_unit(r.x[0]), u2 = to_unit(r.x[1]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

}  // namespace promoe::philox
