// Shared routing helpers.
#include "moe/routing.h"

#include <limits>

#include "moe/fused_cosine.h"

namespace promoe::moe {

const std::vector<int64_t>& host_labels(const Tensor& u, const Tensor& labels, int64_t dim, int64_t null_label,
                                        const char* layer, nn::ForwardContext& ctx) {
  PROMOE_CHECK(u.dim() == 3 && u.size(2) == dim, layer, ": input ", describe(u), " is not (B, N, ", dim, ")");
  PROMOE_CHECK(labels.defined() && labels.shape() == Shape{u.size(0)}, layer, ": labels ",
               labels.defined() ? describe(labels) : std::string("undefined"), " must be (", u.size(0), ")");
  raw::check_index_tensor(labels, layer);
  if (!ctx.host_labels_of.defined() || !ctx.host_labels_of.same(labels)) {
    std::vector<int64_t> lab = labels.to_vector<int64_t>();
    for (int64_t l : lab)
      PROMOE_CHECK(l >= 0 && l <= null_label, layer, ": label ", l, " outside [0, ", null_label, "] (", null_label,
                   " is the null class)");
    ctx.host_labels = std::move(lab);
    ctx.host_labels_of = labels;
  }
  return ctx.host_labels;
}

std::vector<bool> uncond_images(const std::vector<int64_t>& labels, int64_t null_label, bool use_uncond_expert) {
  std::vector<bool> unc(labels.size(), false);
  if (use_uncond_expert)
    for (size_t b = 0; b < labels.size(); ++b) unc[b] = labels[b] == null_label;
  return unc;
}

Tensor activate(const Tensor& z, RouterWeightMode mode, int64_t dim) {
  switch (mode) {
    case RouterWeightMode::Identity:
      return z;
    case RouterWeightMode::Sigmoid:
      return sigmoid(z);
    case RouterWeightMode::Softmax:
      return softmax(z, dim);
  }
  return z;
}

Tensor row_sums(const Tensor& a) {
  PROMOE_CHECK(a.dim() == 2, "row_sums: expected a 2-D tensor, got ", describe(a));
  return raw::matmul(a, raw::ones({a.size(1), 1}, a.dtype(), a.device()));
}

Tensor cosine_scores(const Tensor& x, const Tensor& P) {
  PROMOE_CHECK(x.dim() >= 1 && P.dim() == 2 && x.size(-1) == P.size(1), "cosine_scores: ", describe(x), " and ",
               describe(P), " are not (..., D) and (E, D)");
  constexpr double eps = 1e-12;
  const int64_t D = P.size(1), E = P.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = E;
  Tensor Q = normalize(P, 1, eps);                          // (E, D)
  Tensor X = raw::reshape(x, {-1, D});                      // (T, D)
  fused::CosineScores s = fused::cosine_scores(X, Q, eps);  // z (T, E) = (x . q) / max(|x|, eps)
  Tensor out = raw::reshape(s.z, out_shape);
  if (!needs_grad({x, Q})) return out;
  Tensor sX = X.detach(), sQ = Q.detach(), sZ = s.z, r = s.rnorm;
  const Shape x_shape = x.shape();
  const bool rx = x.requires_grad(), rq = Q.requires_grad();
  return record(out, "cosine_scores", {x, Q}, [=](const Tensor& g) {
    fused::CosineScoresGrads d = fused::cosine_scores_backward(raw::reshape(g, {-1, E}), sZ, sX, sQ, r, eps);
    std::vector<Tensor> grads(2);
    if (rx) grads[0] = raw::reshape(d.x, x_shape);
    if (rq) grads[1] = raw::matmul(raw::transpose(d.gz_scaled, 0, 1), sX);  // (E, D)
    return grads;
  });
}

Tensor cosine_scores_reference(const Tensor& x, const Tensor& P) {
  return matmul(normalize(x, -1, 1e-12), transpose(normalize(P, 1, 1e-12), 0, 1));
}

std::string block_key(const char* what, int64_t block) {
  return std::string(what) + ".blocks." + std::to_string(block);
}

void add_aux_loss(nn::ForwardContext& ctx, const char* what, int64_t block, const Tensor& loss, double coef) {
  const std::string key = block_key(what, block);
  ctx.aux_losses.emplace_back(key, coef == 1.0 ? loss : loss * coef);
  ctx.aux_unweighted.emplace_back(key, loss.detach());
}

void add_route_record(nn::ForwardContext& ctx, int64_t block, const std::vector<int64_t>& idx,
                      const std::vector<double>& w, const Shape& shape, const Tensor& like) {
  nn::RouteRecord& route = ctx.routes[block];
  route.idx = raw::from_vector(idx, shape, like.device());
  route.w = raw::to(raw::from_vector(w, shape, like.device()), like.dtype());
  // The same tensors under the names parity case files give them.
  const std::string key = "route.blocks." + std::to_string(block);
  ctx.records[key + ".idx"] = route.idx;
  ctx.records[key + ".w"] = route.w;
}

}  // namespace promoe::moe
