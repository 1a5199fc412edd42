// Overflow-checked size arithmetic for sizes read from files. Element counts, byte counts and
// offsets are products and sums of header fields a hostile file controls; every one is computed
// here, so a result either fits (at most kMaxFileSize, which also fits int64_t, size_t and off_t)
// or throws promoe::Error naming `what` (the file and the field) and the values that overflowed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace promoe::io {

// The largest element count, byte count or offset a parser accepts: 2^62.
inline constexpr uint64_t kMaxFileSize = uint64_t(1) << 62;

// a * b and a + b, each throwing "<what>: size overflow: a * b exceeds 2^62".
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what);
uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what);

// The number of elements of a shape (1 for no dims), throwing when a dim or the product exceeds
// 2^62 ("<what>: shape [a, b] has more than 2^62 elements").
uint64_t checked_numel(std::span<const uint64_t> dims, const std::string& what);
uint64_t checked_numel(std::span<const int64_t> dims, const std::string& what);

// The bytes of `numel` elements of `item_size` bytes each.
inline uint64_t checked_bytes(uint64_t numel, size_t item_size, const std::string& what) {
  return checked_mul(numel, item_size, what);
}

}  // namespace promoe::io
