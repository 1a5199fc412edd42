// Expert parallelism (moe/expert_parallel.h), run by every rank of a job (and alone). Every rank
// builds the same model twice from one seed: whole, run on the whole batch, and sharded, run on
// its images only. The sharded forward must give this rank's rows of the whole output; backward of
// <g, output> must give the whole model's gradient for every expert this rank holds, and, summed
// over the ranks, for every replicated parameter; and the gathered checkpoint tensors must be the
// whole model's, in its order.
#include <doctest/doctest.h>

#include <map>

#include "../diffusion_test_util.h"
#include "moe/expert_parallel.h"
#include "nn/optim.h"
#include "tensor/ops.h"
#include "training/checkpoint.h"
#include "training/expert_shards.h"
#include "training/model_spec.h"

using namespace promoe;
using diffusion_test::max_abs_diff;

namespace {

constexpr int64_t kImagesPerRank = 2;

struct Batch {
  Tensor x, t, y, g;  // whole batch, the same on every rank
};

// Labels cycle through the classes, with the null label (num_classes) on the last rank's images,
// so that one rank sends no token to a routed expert of ProMoE.
Batch make_batch(const training::ModelSpec& spec, int ranks) {
  const int64_t B = kImagesPerRank * ranks, C = spec.dit.in_channels, H = spec.dit.input_size;
  Generator gen(7);
  Batch b;
  b.x = gen.normal({B, C, H, H});
  b.t = gen.uniform({B}, 0.05, 0.95);
  std::vector<int64_t> labels(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i)
    labels[size_t(i)] = i >= B - kImagesPerRank && ranks > 1 ? spec.dit.num_classes : i % spec.dit.num_classes;
  b.y = raw::from_vector(labels, {B});
  b.g = gen.normal({B, C, H, H});
  return b;
}

Tensor mine(const Tensor& t, int rank) { return raw::narrow(t, 0, rank * kImagesPerRank, kImagesPerRank); }

// Forward and backward of <g, model(x, t, y)>; returns the output.
Tensor run(nn::DiT& model, const Tensor& x, const Tensor& t, const Tensor& y, const Tensor& g) {
  Tensor out = model.forward(x, t, y);
  sum(out * g).backward();
  return out;
}

std::map<std::string, Tensor> by_name(const NamedTensors& list) { return {list.begin(), list.end()}; }

void check_expert_parallel(const std::string& preset) {
  CAPTURE(preset);
  dist::Communicator& world = dist::world();
  const int ranks = world.size(), rank = world.rank();
  const training::ModelSpec spec = training::ModelSpec::preset(preset);
  std::shared_ptr<nn::DiT> whole = spec.build(3), sharded = spec.build(3);
  moe::shard_experts(*sharded, world.duplicate());
  whole->train(false);  // no class dropout: the labels are the batch's
  sharded->train(false);
  // Random weights everywhere (adaLN-Zero would make every block the identity at initialisation,
  // and the experts' outputs and gradients zero), the same in both models.
  Generator init(11);
  const std::map<std::string, Tensor> shared_names = by_name(sharded->named_parameters());
  for (auto& [name, p] : whole->named_parameters()) {
    NoGradGuard no_grad;
    Tensor w = p;
    raw::copy_(w, init.normal(p.shape(), 0.0, 0.1));
    if (shared_names.count(name)) {
      Tensor s = shared_names.at(name);
      raw::copy_(s, w);
    }
  }
  const std::vector<moe::ShardedParameter> own = moe::sharded_parameters(*sharded);

  // Each rank holds 1/ranks of every routed bank and everything else.
  const int64_t E = spec.moe->num_experts, moe_blocks = int64_t(own.size()) / (E / ranks * 4);
  CHECK(int64_t(own.size()) == moe_blocks * (E / ranks) * 4);  // w1, b1, w2, b2 per expert
  CHECK(moe_blocks == 3);
  for (const moe::ShardedParameter& p : own) CHECK(p.expert / p.per_rank == rank);
  int64_t own_numel = 0;
  for (const moe::ShardedParameter& p : own) own_numel += p.tensor.numel();
  CHECK(sharded->num_parameters() == whole->num_parameters() - own_numel * (ranks - 1));

  const Batch b = make_batch(spec, ranks);
  const Tensor want = run(*whole, b.x, b.t, b.y, b.g);
  const Tensor got = run(*sharded, mine(b.x, rank), mine(b.t, rank), mine(b.y, rank), mine(b.g, rank));
  CHECK(max_abs_diff(got, mine(want, rank)) < 1e-5);

  const std::map<std::string, Tensor> reference = by_name(whole->named_parameters());
  std::map<std::string, bool> is_own;
  for (const moe::ShardedParameter& p : own) is_own[p.name] = true;
  for (const auto& [name, p] : sharded->named_parameters()) {
    CAPTURE(name);
    REQUIRE(reference.count(name));
    const Tensor w = reference.at(name).grad();
    Tensor g = p.grad().defined() ? raw::clone(p.grad()) : raw::zeros(p.shape());
    if (!is_own.count(name)) world.all_reduce(g);  // replicated: each rank has its tokens' part
    const double scale = w.defined() ? 1.0 + max_abs_diff(w, raw::zeros(w.shape())) : 1.0;
    CHECK(max_abs_diff(g, w.defined() ? w : raw::zeros(p.shape())) < 1e-4 * scale);
  }

  // The gathered checkpoint tensors are the whole model's, by name and in order.
  const NamedTensors whole_params = whole->named_parameters(), sharded_params = sharded->named_parameters();
  const nn::AdamW whole_opt(whole_params, {}), sharded_opt(sharded_params, {});
  const nn::Ema whole_ema(whole_params, 0.9), sharded_ema(sharded_params, 0.9);
  const io::NamedTensors expect = training::checkpoint_tensors(*whole, whole_ema, whole_opt);
  const io::NamedTensors gathered =
      training::gather_expert_shards(training::checkpoint_tensors(*sharded, sharded_ema, sharded_opt), own, world);
  REQUIRE(gathered.size() == expect.size());
  for (size_t i = 0; i < expect.size(); ++i) {
    CAPTURE(expect[i].first);
    CHECK(gathered[i].first == expect[i].first);
    CHECK(max_abs_diff(gathered[i].second, expect[i].second) == 0);
  }
}

}  // namespace

TEST_CASE("expert parallel: ProMoE token choice equals the whole model") { check_expert_parallel("ProMoE-Tiny"); }
TEST_CASE("expert parallel: ProMoE expert choice equals the whole model") { check_expert_parallel("ProMoE-EC-Tiny"); }
TEST_CASE("expert parallel: token-choice MoE equals the whole model") { check_expert_parallel("TC-Tiny"); }
TEST_CASE("expert parallel: expert-choice MoE equals the whole model") { check_expert_parallel("EC-Tiny"); }

TEST_CASE("expert parallel: an expert count that does not divide among the ranks is refused") {
  dist::Communicator& world = dist::world();
  training::ModelSpec spec = training::ModelSpec::preset("TC-Tiny");
  spec.moe->num_experts = 2 * world.size() + 1;
  std::shared_ptr<nn::DiT> model = spec.build(0);
  const std::string message = "do not divide among " + std::to_string(world.size()) + " ranks";
  if (world.size() > 1)
    CHECK_THROWS_WITH_AS(moe::shard_experts(*model, world.duplicate()), doctest::Contains(message.c_str()),
                         promoe::Error);
  else
    CHECK_NOTHROW(moe::shard_experts(*model, world.duplicate()));
}

TEST_CASE("expert parallel: with_expert_index renames one expert's key") {
  CHECK(moe::with_expert_index("opt.exp_avg.blocks.1.mlp.experts.3.up_proj.weight", 3, 7) ==
        "opt.exp_avg.blocks.1.mlp.experts.7.up_proj.weight");
  CHECK_THROWS_AS(moe::with_expert_index("blocks.1.mlp.experts.3.up_proj.weight", 2, 7), promoe::Error);
}
