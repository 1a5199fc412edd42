// Eigen array views of one contiguous row: the unit the CPU's row-wise kernels (softmax, LayerNorm,
// adaLN, bias + GELU) compute on, so that each row is one vectorised expression.
#pragma once
#include <Eigen/Core>

namespace promoe::cpu {

template <typename T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

}  // namespace promoe::cpu
