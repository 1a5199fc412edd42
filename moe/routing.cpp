// Shared routing helpers.
#include "moe/routing.h"

namespace promoe::moe {

std::vector<int64_t> host_labels(const Tensor& u, const Tensor& labels, int64_t dim, int64_t null_label,
                                 const char* layer) {
  PROMOE_CHECK(u.dim() == 3 && u.size(2) == dim, layer, ": input ", describe(u), " is not (B, N, ", dim, ")");
  PROMOE_CHECK(labels.defined() && labels.shape() == Shape{u.size(0)}, layer, ": labels ",
               labels.defined() ? describe(labels) : std::string("undefined"), " must be (", u.size(0), ")");
  raw::check_index_tensor(labels, layer);
  std::vector<int64_t> lab = labels.to_vector<int64_t>();
  for (int64_t l : lab)
    PROMOE_CHECK(l >= 0 && l <= null_label, layer, ": label ", l, " outside [0, ", null_label, "] (", null_label,
                 " is the null class)");
  return lab;
}

std::vector<bool> uncond_images(const std::vector<int64_t>& labels, int64_t null_label, bool use_uncond_expert) {
  std::vector<bool> unc(labels.size(), false);
  if (use_uncond_expert)
    for (size_t b = 0; b < labels.size(); ++b) unc[b] = labels[b] == null_label;
  return unc;
}

Tensor activate(const Tensor& z, RouterWeightMode mode, int64_t dim) {
  switch (mode) {
    case RouterWeightMode::Identity: return z;
    case RouterWeightMode::Sigmoid: return sigmoid(z);
    case RouterWeightMode::Softmax: return softmax(z, dim);
  }
  return z;
}

Tensor cosine_scores(const Tensor& x, const Tensor& P) {
  return matmul(normalize(x, -1, 1e-12), transpose(normalize(P, 1, 1e-12), 0, 1));
}

std::string block_key(const char* what, int64_t block) { return std::string(what) + ".blocks." + std::to_string(block); }

void add_aux_loss(nn::ForwardContext& ctx, const char* what, int64_t block, const Tensor& loss, double coef) {
  const std::string key = block_key(what, block);
  ctx.aux_losses.emplace_back(key, coef == 1.0 ? loss : loss * coef);
  ctx.aux_unweighted.emplace_back(key, loss.detach());
}

void add_route_record(nn::ForwardContext& ctx, int64_t block, const std::vector<int64_t>& idx,
                      const std::vector<double>& w, const Shape& shape, const Tensor& like) {
  const std::string key = "route.blocks." + std::to_string(block);
  ctx.records[key + ".idx"] = raw::from_vector(idx, shape, like.device());
  ctx.records[key + ".w"] = raw::to(raw::from_vector(w, shape, like.device()), like.dtype());
}

}  // namespace promoe::moe
