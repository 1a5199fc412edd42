// Random tensors and the four view kinds the backend tests feed every kernel: contiguous, all dims
// reversed (permuted), a window of a larger tensor (offset and padded strides), and broadcast along
// every other dim (stride 0). A view is described as a base shape plus the view op applied to a
// base tensor, so the same view can be built on the CPU and on a GPU.
#pragma once
#include <vector>

#include "tensor/ops.h"
#include "tensor/random.h"

namespace promoe::test {

// Normal * scale, converted to `dt` (i64: small integers with many ties).
inline Tensor random_tensor(Generator& gen, const Shape& shape, DType dt, double scale = 3.0) {
  return raw::to(raw::mul_scalar(gen.randn(shape, DType::F64), scale), dt);
}

enum class ViewKind { Contiguous, Permuted, Narrowed, Broadcast };
inline constexpr ViewKind kAllKinds[] = {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Narrowed,
                                         ViewKind::Broadcast};

inline const char* kind_name(ViewKind k) {
  switch (k) {
    case ViewKind::Contiguous:
      return "contiguous";
    case ViewKind::Permuted:
      return "permuted";
    case ViewKind::Narrowed:
      return "narrowed";
    case ViewKind::Broadcast:
      return "broadcast";
  }
  return "?";
}

// The shape of the tensor a view of logical shape `shape` is taken from.
inline Shape view_base_shape(const Shape& shape, ViewKind kind) {
  Shape base = shape;
  switch (kind) {
    case ViewKind::Contiguous:
      break;
    case ViewKind::Permuted:
      base.assign(shape.rbegin(), shape.rend());
      break;
    case ViewKind::Narrowed:
      for (int64_t& s : base) s += 2;
      break;
    case ViewKind::Broadcast:
      for (size_t d = 0; d < base.size(); d += 2) base[d] = 1;
      break;
  }
  return base;
}

// The view of logical shape `shape` taken from `base` (of view_base_shape(shape, kind)).
inline Tensor apply_view(const Tensor& base, const Shape& shape, ViewKind kind) {
  const int64_t nd = int64_t(shape.size());
  switch (kind) {
    case ViewKind::Contiguous:
      return base;
    case ViewKind::Permuted: {
      std::vector<int64_t> perm(nd);
      for (int64_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
      return raw::permute(base, perm);
    }
    case ViewKind::Narrowed: {
      Tensor t = base;
      for (int64_t d = 0; d < nd; ++d) t = raw::narrow(t, d, 1, shape[d]);
      return t;
    }
    case ViewKind::Broadcast:
      return raw::expand(base, shape);
  }
  return Tensor();
}

inline Tensor random_view(Generator& gen, const Shape& shape, DType dt, ViewKind kind) {
  return apply_view(random_tensor(gen, view_base_shape(shape, kind), dt), shape, kind);
}

// Views of logical shape (Bt, R, C) in the layouts a GEMM operand can arrive in: kind 0 row-major,
// 1 column-major, 2 row-major window, 3 column-major window, 4 neither (column stride 2),
// 5 batch stride 0.
inline Tensor gemm_operand(Generator& gen, int64_t bt, int64_t r, int64_t c, int kind, DType dt) {
  switch (kind) {
    case 0:
      return gen.randn({bt, r, c}, dt);
    case 1:
      return raw::transpose(gen.randn({bt, c, r}, dt), 1, 2);
    case 2:
      return raw::narrow(gen.randn({bt, r, c + 3}, dt), 2, 1, c);
    case 3:
      return raw::narrow(raw::transpose(gen.randn({bt, c + 2, r}, dt), 1, 2), 2, 2, c);
    case 4: {
      Tensor base = gen.randn({bt, r, 2 * c}, dt);
      return Tensor::view_of(base, {bt, r, c}, {r * 2 * c, 2 * c, 2}, 0);
    }
    default:
      return raw::expand(gen.randn({1, r, c}, dt), {bt, r, c});
  }
}

}  // namespace promoe::test
