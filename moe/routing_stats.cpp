// Routing analytics: accumulation over recorded forward passes.
#include "moe/routing_stats.h"

#include <limits>

#include "autograd/ops.h"
#include "moe/promoe_layer.h"

namespace promoe::moe {

RoutingStats::RoutingStats(const MoeConfig& cfg, int64_t num_classes, int64_t tokens)
    : cfg_(cfg), num_classes_(num_classes), tokens_(tokens) {}

void RoutingStats::add(const nn::ForwardContext& ctx) {
  PROMOE_CHECK(ctx.used_labels.defined(), "routing stats: the forward pass recorded no labels");
  const std::vector<int64_t> labels = ctx.used_labels.to_vector<int64_t>();
  const int64_t experts = cfg_.num_expert_mlps();
  const int64_t uncond = cfg_.has_uncond_expert() ? cfg_.num_experts : -1;
  for (auto& [block, route] : ctx.routes) {
    const Tensor &idx_t = route.idx, &w_t = route.w;
    BlockRouting& b = blocks_[block];
    if (b.load.empty()) {
      b.block = block;
      b.load.assign(size_t(experts), 0);
      b.class_expert.assign(size_t(num_classes_ + 1), std::vector<double>(size_t(experts), 0));
      b.weight_min = std::numeric_limits<double>::infinity();
      b.weight_max = -std::numeric_limits<double>::infinity();
    }
    const std::vector<int64_t> idx = idx_t.to_vector<int64_t>();
    const std::vector<double> w = w_t.to_vector<double>();
    // Token choice: (B, N, K) expert ids. Expert choice: (B, E, capacity) token ids, row e = expert.
    const int64_t B = idx_t.size(0), rows = idx_t.size(1), slots = idx_t.size(2);
    for (int64_t bi = 0; bi < B; ++bi) {
      const int64_t y = std::min<int64_t>(labels[size_t(bi)], num_classes_);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t s = 0; s < slots; ++s) {
          const size_t at = size_t((bi * rows + r) * slots + s);
          const int64_t expert = cfg_.is_expert_choice() ? (idx[at] < 0 ? -1 : r) : idx[at];
          if (expert < 0 || expert >= experts) continue;
          // Unconditional tokens fill every slot with expert E; only slot 0 carries the assignment.
          if (expert == uncond && (cfg_.is_expert_choice() ? false : s > 0)) continue;
          b.load[size_t(expert)] += 1;
          b.class_expert[size_t(y)][size_t(expert)] += 1;
          if (expert != uncond) {
            b.weight_sum += w[at];
            b.weight_sq_sum += w[at] * w[at];
            b.weight_min = std::min(b.weight_min, w[at]);
            b.weight_max = std::max(b.weight_max, w[at]);
            ++b.weight_count;
          }
        }
    }
  }
  // Expert choice: uncond images are not in the (B, E, capacity) table; count their tokens.
  if (cfg_.is_expert_choice() && uncond >= 0)
    for (auto& [block, b] : blocks_)
      for (int64_t y : labels)
        if (y == num_classes_) {
          b.load[size_t(uncond)] += double(tokens_);
          b.class_expert[size_t(num_classes_)][size_t(uncond)] += double(tokens_);
        }
}

void RoutingStats::set_prototypes(const nn::DiT& model) {
  NoGradGuard ng;
  for (size_t i = 0; i < model.blocks.size(); ++i) {
    const auto* layer = dynamic_cast<const ProMoELayer*>(model.blocks[i]->mlp.get());
    if (!layer) continue;
    const int64_t block = int64_t(i);
    Tensor p = normalize(layer->cluster_centers.detach(), 1);
    BlockRouting& b = blocks_[block];
    b.block = block;
    b.prototype_cosine = raw::to(raw::matmul(p, raw::transpose(p, 0, 1)), Device::cpu());
  }
}

}  // namespace promoe::moe
