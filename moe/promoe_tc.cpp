// ProMoE token choice.
#include "moe/promoe_tc.h"

#include "moe/routing.h"
#include "moe/routing_losses.h"

namespace promoe::moe {

ProMoETC::ProMoETC(int64_t d, const MoeConfig& c, int64_t null, Generator& gen) : ProMoELayer(d, c, null, gen) {
  PROMOE_CHECK(c.type == MoeType::ProMoeTC, "ProMoETC: config type is ", type_name(c.type));
}

Tensor ProMoETC::forward(const Tensor& u, const Tensor& labels, int64_t block, nn::ForwardContext& ctx) {
  const std::vector<int64_t>& lab = host_labels(u, labels, dim, null_label, "promoe_tc", ctx);
  const int64_t B = u.size(0), N = u.size(1), T = B * N, E = cfg.num_experts, K = cfg.top_k;
  Tensor U = reshape(u, {T, dim});

  // Conditional routing (§2.3): the tokens of null-label images go to expert E with weight 1.
  std::vector<bool> unc = uncond_images(lab, null_label, cfg.use_uncond_expert);
  std::vector<int64_t> cond_rows, uncond_rows;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) (unc[b] ? uncond_rows : cond_rows).push_back(b * N + n);
  const int64_t nc = int64_t(cond_rows.size()), nu = int64_t(uncond_rows.size());

  // Prototypical routing (§2.4) of the conditional tokens: top-k of the activated cosines.
  std::vector<int64_t> tok, ex, J;
  std::vector<Tensor> weight_parts;
  Tensor S, G;
  tok.reserve(nc * K + nu);
  ex.reserve(nc * K + nu);
  if (nc > 0) {
    // Scoring every token and keeping the conditional rows of the small (T, E) table is cheaper
    // than gathering the conditional rows of U (E << D).
    Tensor Z = cosine_scores(U, cluster_centers);  // (T, E)
    if (nc < T) Z = index_select(Z, 0, raw::from_vector(cond_rows, {nc}, u.device()));
    S = activate(Z, cfg.router_weight_mode, 1);  // (nc, E)
    raw::ValuesIndices top = topk(S, K, 1);      // (nc, K), descending
    G = top.values;
    J = top.indices.to_vector<int64_t>();
    for (int64_t i = 0; i < nc; ++i)
      for (int64_t k = 0; k < K; ++k) {
        tok.push_back(cond_rows[i]);
        ex.push_back(J[i * K + k]);
      }
    weight_parts.push_back(reshape(G, {nc * K}));  // raw scores, no renormalisation
  }
  if (nu > 0) {  // one assignment per token: the zero-weight slots of the K-slot table add nothing
    tok.insert(tok.end(), uncond_rows.begin(), uncond_rows.end());
    ex.insert(ex.end(), nu, E);
    weight_parts.push_back(raw::ones({nu}, u.dtype(), u.device()));
  }
  Tensor weight = weight_parts.size() == 1 ? weight_parts[0] : cat(weight_parts, 0);
  Tensor O = run_experts(U, make_assignments(tok, ex, weight), *experts, shared_expert);  // (T, D)

  if (ctx.aux) {
    if (cfg.load_balance_coef > 0) {  // §2.8: conditional tokens only
      Tensor probs = nc > 0 ? (cfg.router_weight_mode == RouterWeightMode::Softmax ? S : softmax(S, 1)) : Tensor();
      Tensor lb = ctx.replica_sum ? load_balance_loss_global(probs, J, E, *ctx.replica_sum, u.dtype(), u.device())
                  : nc > 0        ? load_balance_loss(probs, J)
                                  : raw::scalar(0.0, u.dtype(), u.device());
      add_aux_loss(ctx, "lb", block, lb, cfg.load_balance_coef);
    }
    if (cfg.rcl_lambda > 0) {  // §2.6
      std::vector<int64_t> rows, members;
      const int64_t slots = cfg.rcl_use_topk ? K : 1;
      for (int64_t i = 0; i < nc; ++i)
        for (int64_t k = 0; k < slots; ++k) {
          rows.push_back(cond_rows[i]);
          members.push_back(J[i * K + k]);
        }
      Tensor rcl = ctx.replica_sum ? token_choice_rcl_global(U, cluster_centers, rows, members, cfg.rcl_temperature,
                                                             *ctx.replica_sum)
                                   : token_choice_rcl(U, cluster_centers, rows, members, cfg.rcl_temperature);
      add_aux_loss(ctx, "rcl", block, rcl, cfg.rcl_lambda);
    }
  }
  if (ctx.record) {
    std::vector<int64_t> idx(T * K, E);
    std::vector<double> w(T * K, 0.0);
    for (int64_t r : uncond_rows) w[r * K] = 1.0;
    if (nc > 0) {
      std::vector<double> g = G.to_vector<double>();
      for (int64_t i = 0; i < nc; ++i)
        for (int64_t k = 0; k < K; ++k) {
          idx[cond_rows[i] * K + k] = J[i * K + k];
          w[cond_rows[i] * K + k] = g[i * K + k];
        }
    }
    add_route_record(ctx, block, idx, w, {B, N, K}, u);
  }
  return reshape(O, {B, N, dim});
}

}  // namespace promoe::moe
