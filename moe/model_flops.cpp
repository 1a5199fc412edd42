// Matmul FLOPs of a training step (moe/model.h), for throughput and MFU reports.
#include "moe/model.h"

namespace promoe::moe {

double training_step_flops(const ModelConfigs& spec, int64_t batch) {
  const nn::DiTConfig& c = spec.dit;
  const double D = double(c.hidden_size), N = double(c.tokens()), B = double(batch), T = B * N;
  const double p2 = double(c.patch_size * c.patch_size);
  const double mlp = D * double(int64_t(D * c.mlp_ratio)) * 2;  // fc1 + fc2, per token
  double macs = T * p2 * double(c.in_channels) * D              // patch embedding
                + T * D * p2 * double(c.out_channels())         // final linear
                + B * D * 2 * D;                                // final adaLN (shift, scale)
  for (int64_t blk = 0; blk < c.depth; ++blk) {
    macs += T * 4 * D * D + T * 2 * N * D + B * D * 6 * D;  // qkv + proj, q k^T and p v, adaLN
    if (!spec.moe || !spec.moe->block_is_moe(blk)) {
      macs += T * mlp;
      continue;
    }
    const MoeConfig& m = *spec.moe;
    const double expert = 2 * D * double(m.moe_intermediate_size);
    // Expert-token pairs: top-k per token, or each expert's capacity in every image.
    const double pairs =
        m.is_expert_choice() ? B * double(m.num_experts * m.ec_capacity(c.tokens())) : T * double(m.top_k);
    macs += pairs * expert + T * D * double(m.num_experts);  // routed experts, router
    if (m.use_shared_expert) macs += T * 2 * D * double(m.shared_expert_intermediate_size);
  }
  return 2 * 3 * macs;
}

}  // namespace promoe::moe
