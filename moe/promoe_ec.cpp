// ProMoE expert choice.
#include "moe/promoe_ec.h"

#include "moe/routing.h"
#include "moe/routing_losses.h"

namespace promoe::moe {

ProMoEEC::ProMoEEC(int64_t d, const MoeConfig& c, int64_t null, Generator& gen) : ProMoELayer(d, c, null, gen) {
  PROMOE_CHECK(c.type == MoeType::ProMoeEC, "ProMoEEC: config type is ", type_name(c.type));
}

Tensor ProMoEEC::forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) {
  const std::vector<int64_t>& lab = host_labels(u, labels, dim, null_label, "promoe_ec", ctx);
  const int64_t B = u.size(0), N = u.size(1), T = B * N, E = cfg.num_experts;
  const int64_t cap = cfg.ec_capacity(N);
  Tensor U = reshape(u, {T, dim});
  std::vector<bool> unc = uncond_images(lab, null_label, cfg.use_uncond_expert);
  std::vector<int64_t> cond, uncond;  // image indices
  for (int64_t b = 0; b < B; ++b) (unc[b] ? uncond : cond).push_back(b);
  const int64_t Bc = int64_t(cond.size());

  std::vector<int64_t> tok, ex, I;
  std::vector<Tensor> weight_parts;
  Tensor G;
  if (Bc > 0) {
    Tensor Z = cosine_scores(u, cluster_centers);  // (B, N, E); cheaper than gathering u's cond images
    if (Bc < B) Z = index_select(Z, 0, raw::from_vector(cond, {Bc}, u.device()));
    Tensor S = activate(transpose(Z, 1, 2), cfg.router_weight_mode, -1);  // (Bc, E, N)
    raw::ValuesIndices top = topk(S, cap, -1);                            // (Bc, E, cap)
    G = top.values;
    I = top.indices.to_vector<int64_t>();
    for (int64_t b = 0; b < Bc; ++b)
      for (int64_t e = 0; e < E; ++e)
        for (int64_t c = 0; c < cap; ++c) {
          tok.push_back(cond[b] * N + I[(b * E + e) * cap + c]);
          ex.push_back(e);
        }
    weight_parts.push_back(reshape(G, {Bc * E * cap}));
  }
  if (!uncond.empty()) {
    for (int64_t b : uncond)
      for (int64_t n = 0; n < N; ++n) {
        tok.push_back(b * N + n);
        ex.push_back(E);
      }
    weight_parts.push_back(raw::ones({int64_t(uncond.size()) * N}, u.dtype(), u.device()));
  }
  const int64_t n_routed = Bc * E * cap;
  Tensor weight = weight_parts.size() == 1 ? weight_parts[0] : cat(weight_parts, 0);
  Tensor O = run_experts(U, make_assignments(tok, ex, weight), *experts, shared_expert);

  if (ctx.aux && cfg.rcl_lambda > 0) {
    Tensor rcl, means;
    if (Bc > 0 && E > 1) {  // centroid of each (image, expert) pick set, all experts valid
      std::vector<int64_t> rows(tok.begin(), tok.begin() + n_routed), group(n_routed);
      for (int64_t a = 0; a < n_routed; ++a) group[a] = a / cap;  // = b * E + e
      means = reshape(group_means(U, rows, group, Bc * E), {Bc, E, dim});
    }
    if (ctx.replica_sum && E > 1) {
      rcl = expert_choice_rcl_global(cluster_centers, means, Bc, cfg.rcl_temperature, *ctx.replica_sum, u.dtype(),
                                     u.device());
    } else if (means.defined()) {
      rcl = contrastive_loss(cluster_centers, means, cfg.rcl_temperature);
    } else {
      rcl = raw::scalar(0.0, u.dtype(), u.device());
    }
    add_aux_loss(ctx, "rcl", block, rcl, cfg.rcl_lambda);
  }
  if (ctx.record) {
    std::vector<int64_t> idx(B * E * cap, -1);
    std::vector<double> w(B * E * cap, 0.0);
    if (Bc > 0) {
      std::vector<double> g = G.to_vector<double>();
      for (int64_t b = 0; b < Bc; ++b)
        for (int64_t j = 0; j < E * cap; ++j) {
          idx[cond[b] * E * cap + j] = I[b * E * cap + j];
          w[cond[b] * E * cap + j] = g[b * E * cap + j];
        }
    }
    add_route_record(ctx, block, idx, w, {B, E, cap}, u);
  }
  return reshape(O, {B, N, dim});
}

}  // namespace promoe::moe
