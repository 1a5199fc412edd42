// Routing analysis over a class-balanced batch.
#include "training/routing_report.h"

#include "autograd/ops.h"
#include "diffusion/rectified_flow.h"

namespace promoe::training {

moe::RoutingStats analyse_routing(nn::DiT& model, const ModelSpec& spec, const Tensor& images, const Tensor& labels,
                                  const RoutingAnalysis& o) {
  PROMOE_CHECK(spec.moe.has_value(), "routing: the model has no MoE layers");
  NoGradGuard ng;
  const int64_t classes = spec.dit.num_classes;
  // The first per_class examples of every class, in class order.
  std::vector<int64_t> picked, picked_labels;
  std::vector<int64_t> seen(size_t(classes), 0);
  const std::vector<int64_t> all = labels.to_vector<int64_t>();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] < classes && seen[size_t(all[i])] < o.per_class) {
      ++seen[size_t(all[i])];
      picked.push_back(int64_t(i));
      picked_labels.push_back(all[i]);
    }
  // Null-label copies of the first class's examples route to the unconditional expert.
  for (int64_t i = 0; i < std::min<int64_t>(o.per_class, int64_t(picked.size())); ++i) {
    picked.push_back(picked[size_t(i)]);
    picked_labels.push_back(classes);
  }
  const int64_t n = int64_t(picked.size());
  const Device device = model.pos_embed.device();
  Tensor x0 = raw::to(raw::index_select(images, 0, raw::from_vector<int64_t>(picked, {n})), device);
  Tensor y = raw::from_vector<int64_t>(picked_labels, {n}, device);
  Generator gen(o.seed);
  Tensor sigma = raw::full({n}, o.sigma, DType::F32, device);
  Tensor x_t = diffusion::rf_interpolate(x0, sigma, gen.randn(x0.shape(), DType::F32, device));

  moe::RoutingStats stats(*spec.moe, classes, spec.dit.tokens());
  const bool was_training = model.is_training();
  model.train(false);
  const int64_t batch = 64;
  for (int64_t at = 0; at < n; at += batch) {
    const int64_t b = std::min(batch, n - at);
    nn::ForwardContext ctx;
    ctx.record = true;
    model.forward(raw::narrow(x_t, 0, at, b), diffusion::rf_model_time(raw::narrow(sigma, 0, at, b)),
                  raw::narrow(y, 0, at, b), ctx);
    stats.add(ctx);
  }
  model.train(was_training);
  stats.set_prototypes(model);
  return stats;
}

}  // namespace promoe::training
