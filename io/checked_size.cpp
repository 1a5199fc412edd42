// Overflow-checked size arithmetic (see checked_size.h).
#include "io/checked_size.h"

#include "tensor/error.h"

namespace promoe::io {

namespace {

template <typename Int>
std::string dims_str(std::span<const Int> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

template <typename Int>
uint64_t numel_of_dims(std::span<const Int> dims, const std::string& what) {
  uint64_t n = 1, strides = 1;
  for (Int d : dims) {
    PROMOE_CHECK(uint64_t(d) <= kMaxFileSize, what, ": shape ", dims_str(dims), " has a size outside [0, 2^62]");
    // The product of the non-zero dims must fit too (a zero does not excuse it): the runtime's
    // stride arithmetic multiplies them in int64 whatever the element count.
    const uint64_t s = d == 0 ? 1 : uint64_t(d);
    PROMOE_CHECK(strides <= kMaxFileSize / s, what, ": shape ", dims_str(dims), " has more than 2^62 elements");
    strides *= s;
    n *= uint64_t(d);
  }
  return n;
}

}  // namespace

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  PROMOE_CHECK(b == 0 || a <= kMaxFileSize / b, what, ": size overflow: ", a, " * ", b, " exceeds 2^62");
  return a * b;
}

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what) {
  PROMOE_CHECK(a <= kMaxFileSize && b <= kMaxFileSize - a, what, ": size overflow: ", a, " + ", b, " exceeds 2^62");
  return a + b;
}

uint64_t checked_numel(std::span<const uint64_t> dims, const std::string& what) { return numel_of_dims(dims, what); }
uint64_t checked_numel(std::span<const int64_t> dims, const std::string& what) {
  return numel_of_dims(dims, what);  // a negative dim reads as a size above 2^63 and is refused
}

}  // namespace promoe::io
