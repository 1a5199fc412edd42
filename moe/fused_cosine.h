// The cosine router's fused scores (tensor/fused.h) and their backward. Fast kernel: cpu/cosine.cpp
// (one pass over x).
#pragma once
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::moe::fused {

// Cosine scores of contiguous x (T, D) against unit-norm prototypes q (E, D): rnorm (T) =
// 1 / max(|x_t|, eps), z (T, E) = (x_t . q_e) * rnorm_t.
void cosine_scores_reference(const Tensor& z, const Tensor& rnorm, const Tensor& x, const Tensor& q, double eps);
inline const FusedOp<decltype(cosine_scores_reference)> cosine_scores_op{"moe.cosine_scores", &cosine_scores_reference};

// From gz = d/dz: gz_scaled (T, E) = gz * rnorm (the prototypes' gradient is gz_scaled^T x) and
// gx (T, D) = gz_scaled @ q - x * rnorm^2 * sum_e gz * z where |x_t| > eps (0 where clamped).
void cosine_scores_backward_reference(const Tensor& gx, const Tensor& gz_scaled, const Tensor& gz, const Tensor& z,
                                      const Tensor& x, const Tensor& q, const Tensor& rnorm, double eps);
inline const FusedOp<decltype(cosine_scores_backward_reference)> cosine_scores_backward_op{
    "moe.cosine_scores_backward", &cosine_scores_backward_reference};

// Checked entry points on x (T, D) and q (E, D).
struct CosineScores {
  Tensor z, rnorm;
};
CosineScores cosine_scores(const Tensor& x, const Tensor& q, double eps);
struct CosineScoresGrads {
  Tensor x, gz_scaled;
};
CosineScoresGrads cosine_scores_backward(const Tensor& gz, const Tensor& z, const Tensor& x, const Tensor& q,
                                         const Tensor& rnorm, double eps);

}  // namespace promoe::moe::fused
