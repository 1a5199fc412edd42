// Helpers shared by the MoE layers: the conditional/unconditional split of a batch, the score
// activations, and the bookkeeping of auxiliary losses and route records in a ForwardContext.
#pragma once
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "moe/config.h"
#include "nn/dit.h"

namespace promoe::moe {

// Checks u (B, N, D) with D = dim and labels (B) i64 in [0, null_label]; returns the labels on the
// host, read once per forward (ctx keeps them).
const std::vector<int64_t>& host_labels(const Tensor& u, const Tensor& labels, int64_t dim, int64_t null_label,
                                        const char* layer, nn::ForwardContext& ctx);

// Which images are unconditional: label == null_label, only where an unconditional expert exists.
std::vector<bool> uncond_images(const std::vector<int64_t>& labels, int64_t null_label, bool use_uncond_expert);

// identity: z; sigmoid: sigmoid(z); softmax: softmax along `dim`.
Tensor activate(const Tensor& z, RouterWeightMode mode, int64_t dim);

// Cosine similarities normalize(x) . normalize(P)^T along the last dim (F.normalize eps 1e-12):
// x (..., D), P (E, D) -> (..., E). The token side is one fused op (row norms, one GEMM, row
// scaling; hand-written backward), so no normalised copy of x is made; P is normalised with the
// differentiable normalize.
Tensor cosine_scores(const Tensor& x, const Tensor& P);
// The same composed from normalize and matmul (gradient checks).
Tensor cosine_scores_reference(const Tensor& x, const Tensor& P);

// Sums over the last dim of a 2-D tensor (R, C) -> (R, 1), as one GEMV against a ones vector: the
// generic reduction kernel pays a large per-row overhead for short rows, a GEMV does not.
Tensor row_sums(const Tensor& a);

// "rcl.blocks.3" style names.
std::string block_key(const char* what, int64_t block);

// Adds a loss to ctx: weighted (coef * loss) to aux_losses, the loss itself to aux_unweighted.
void add_aux_loss(nn::ForwardContext& ctx, const char* what, int64_t block, const Tensor& loss, double coef);

// Records "route.blocks.{block}.idx" (i64) and ".w" (dtype of `like`) of the given shape.
void add_route_record(nn::ForwardContext& ctx, int64_t block, const std::vector<int64_t>& idx,
                      const std::vector<double>& w, const Shape& shape, const Tensor& like);

}  // namespace promoe::moe
