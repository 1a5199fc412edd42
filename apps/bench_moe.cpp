// `promoe bench --what moe` (apps/bench_moe.h). The dense MLP's hidden width is the MoE layer's
// matmul work per token divided by 2D (the experts a token visits, the shared expert, the router),
// so both do the same products per token; the ratio dense / MoE is the MoE layer's speed relative
// to dense compute of equal FLOPs. 10% of the images carry the null label, as under CFG dropout.
#include "apps/bench_moe.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "autograd/ops.h"
#include "moe/model.h"
#include "training/config_edits.h"

namespace promoe {

namespace {

// Matmul multiply-adds per token of the MoE layer `m` over N-token images of width D.
double moe_macs_per_token(const moe::MoeConfig& m, int64_t D, int64_t N) {
  const double pairs = m.is_expert_choice() ? double(m.num_experts * m.ec_capacity(N)) / double(N) : double(m.top_k);
  double macs = pairs * 2 * double(D * m.moe_intermediate_size) + double(D * m.num_experts);
  if (m.use_shared_expert) macs += 2 * double(D * m.shared_expert_intermediate_size);
  return macs;
}

// Forward (with the routing losses) and backward of `layer` on u, then its gradients dropped; wall
// time in ms.
double time_layer(nn::FeedForward& layer, const Tensor& u, const Tensor& labels, const Tensor& g, Device device,
                  GemmPrecision precision) {
  auto t0 = std::chrono::steady_clock::now();
  {
    const GemmPrecisionGuard gemms(precision);
    nn::ForwardContext ctx;
    ctx.aux = true;
    Tensor loss = sum(layer.forward(u, labels, 1, ctx) * g);
    for (auto& [name, aux] : ctx.aux_losses) loss = loss + aux;
    loss.backward();
    if (!device.is_cpu()) (void)loss.item();  // waits for every queued kernel
  }
  for (Tensor& p : layer.parameters()) p.zero_grad();
  Tensor input = u;
  input.zero_grad();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

void run_moe_bench(const MoeBenchOptions& o) {
  const training::ModelSpec spec = training::edited_spec(o.preset, o.edits);
  PROMOE_CHECK(spec.moe.has_value(), "bench: preset ", o.preset, " has no MoE layer");
  const nn::DiTConfig& c = spec.dit;
  const int64_t D = c.hidden_size, N = c.tokens();
  const int64_t hidden = int64_t(moe_macs_per_token(*spec.moe, D, N) / double(2 * D) + 0.5);
  Generator gen(3);
  std::shared_ptr<nn::FeedForward> moe_layer = moe::make_moe_layer(c, *spec.moe, gen);
  auto dense = std::make_shared<nn::DenseFeedForward>(D, hidden, gen);
  moe_layer->to(o.device);
  dense->to(o.device);
  Tensor u = gen.randn({o.batch, N, D}, DType::F32, o.device);
  u.set_requires_grad(true);
  Tensor g = gen.randn({o.batch, N, D}, DType::F32, o.device);
  std::vector<int64_t> lab(o.batch);
  for (int64_t b = 0; b < o.batch; ++b) lab[b] = b % 10 == 9 ? c.num_classes : b % c.num_classes;
  Tensor labels = raw::from_vector(lab, {o.batch}, o.device);
  time_layer(*moe_layer, u, labels, g, o.device, o.precision);  // warm-up
  time_layer(*dense, u, labels, g, o.device, o.precision);
  std::vector<double> moe_ms, dense_ms;
  for (int r = 0; r < o.repeats; ++r) {
    moe_ms.push_back(time_layer(*moe_layer, u, labels, g, o.device, o.precision));
    dense_ms.push_back(time_layer(*dense, u, labels, g, o.device, o.precision));
  }
  const double m = median(moe_ms), d = median(dense_ms);
  std::printf(
      "MoE layer of %s (D %lld, %lld tokens) against a dense MLP of hidden %lld (equal matmul FLOPs per "
      "token), forward + backward:\n",
      o.preset.c_str(), (long long)D, (long long)(o.batch * N), (long long)hidden);
  std::printf("%-10s %12s %12s\n", "layer", "median_ms", "min_ms");
  std::printf("%-10s %12.2f %12.2f\n", "moe", m, *std::min_element(moe_ms.begin(), moe_ms.end()));
  std::printf("%-10s %12.2f %12.2f\n", "dense", d, *std::min_element(dense_ms.begin(), dense_ms.end()));
  std::printf("dense / moe: %.2f (the MoE layer's speed relative to dense compute of equal FLOPs)\n", d / m);
}

}  // namespace promoe
