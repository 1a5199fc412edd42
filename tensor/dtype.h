// Element types. f32 is the working type, f64 exists for gradient checks, i64 holds indices and
// labels, bf16 is a storage format converted to and from f32 (round to nearest even).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace promoe {

enum class DType : uint8_t { F32, F64, I64, BF16 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::I64:
      return 8;
    case DType::BF16:
      return 2;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F64:
      return "f64";
    case DType::I64:
      return "i64";
    case DType::BF16:
      return "bf16";
  }
  return "?";
}

inline bool is_floating(DType t) { return t != DType::I64; }

// bf16 <-> f32, usable in host and device code.
#if defined(__CUDACC__)
#define PROMOE_HD __host__ __device__
#else
#define PROMOE_HD
#endif

PROMOE_HD inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;                            // NaN stays NaN
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);  // a select: loops vectorise
}

PROMOE_HD inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

}  // namespace promoe
