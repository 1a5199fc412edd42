// Generator: a seed plus a running offset into its Philox stream. Every draw advances the offset by
// the number of values drawn, so (seed, offset) is the whole state a checkpoint needs to save.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace promoe {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  Tensor uniform(const Shape& shape, double lo = 0, double hi = 1, DType dtype = DType::F32,
                 Device device = Device::cpu());
  Tensor normal(const Shape& shape, double mean = 0, double std = 1, DType dtype = DType::F32,
                Device device = Device::cpu());
  Tensor randn(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu()) {
    return normal(shape, 0, 1, dtype, device);
  }
  // Integers uniform in [low, high), as i64.
  Tensor randint(const Shape& shape, int64_t low, int64_t high, Device device = Device::cpu());

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

 private:
  uint64_t take(int64_t n) {
    uint64_t at = offset_;
    offset_ += uint64_t(n);
    return at;
  }
  uint64_t seed_, offset_;
};

}  // namespace promoe
