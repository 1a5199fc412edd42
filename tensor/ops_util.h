// Argument checks and layout helpers shared by the raw op files (tensor/ops*.cpp); not part of the
// public API.
#pragma once
#include "tensor/ops.h"

namespace promoe::raw::detail {

inline Backend& be(const Tensor& t) { return backend_for(t.device()); }

using raw::check_defined;
using raw::check_floating;
using raw::check_same_dtype;
// Moves `dim` to the last position (a view), and back.
Tensor move_to_last(const Tensor& a, int64_t dim);
Tensor move_from_last(const Tensor& a, int64_t dim);
// Checks that an i64 index tensor's values lie in [0, bound) (host-side, for CPU indices).
void check_index_range(const Tensor& index, int64_t bound, const char* op);

}  // namespace promoe::raw::detail
