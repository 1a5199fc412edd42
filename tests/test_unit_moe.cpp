// MoE layers (moe/): configuration checks, conditional routing, routing records, the routing
// contrastive loss's zero case, idle experts' gradients, expert-choice capacity, parameter names
// and the parameter counts of docs/PROMOE.md §6.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "expect_error.h"
#include "moe/dispatch.h"
#include "moe/expert_choice.h"
#include "moe/model.h"
#include "moe/presets.h"
#include "moe/promoe_ec.h"
#include "moe/promoe_tc.h"
#include "moe/routing_losses.h"
#include "moe/token_choice.h"

using namespace promoe;
using moe::MoeConfig;
using moe::MoeType;

namespace {

MoeConfig small_promoe(MoeType type = MoeType::ProMoeTC, int64_t E = 4, int64_t K = 1) {
  MoeConfig c;
  c.type = type;
  c.num_experts = E;
  c.top_k = K;
  c.moe_intermediate_size = c.shared_expert_intermediate_size = 10;
  return c;
}

// Reads the f64/f32 values of a tensor.
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = vals(a), y = vals(b);
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

double round2(int64_t n) { return std::round(double(n) / 1e4) / 100.0; }  // millions, 2 decimals

}  // namespace

TEST_CASE("moe config: validation rejects bad configurations before any work") {
  MoeConfig c = small_promoe();
  c.validate(12, 16);
  {
    MoeConfig b = c;
    b.top_k = 5;
    test::expect_error([&] { b.validate(12, 16); }, {"top_k = 5", "num_experts = 4"});
  }
  {
    MoeConfig b = c;
    b.num_experts = 0;
    test::expect_error([&] { b.validate(12, 16); }, {"num_experts", "at least 1"});
  }
  {
    MoeConfig b = c;
    b.top_k = 0;
    test::expect_error([&] { b.validate(12, 16); }, {"top_k", "at least 1"});
  }
  {
    MoeConfig b = c;
    b.rcl_lambda = -1;
    test::expect_error([&] { b.validate(12, 16); }, {"rcl_lambda"});
  }
  {
    MoeConfig b = c;
    b.load_balance_coef = -0.5;
    test::expect_error([&] { b.validate(12, 16); }, {"load_balance_coef"});
  }
  {
    MoeConfig b = c;
    b.rcl_temperature = 0;
    test::expect_error([&] { b.validate(12, 16); }, {"rcl_temperature"});
  }
  {  // expert choice: top_k is a capacity factor and may exceed E; a stated capacity must agree
    MoeConfig b = small_promoe(MoeType::ProMoeEC);
    b.top_k = 6;
    b.validate(12, 16);
    b.top_k = 1;
    b.capacity = 5;
    test::expect_error([&] { b.validate(12, 16); }, {"capacity = 5", "= 4"});
  }
  test::expect_error(
      [] {
        moe::from_json(nlohmann::json{{"type", "switch"}});
      },
      {"unknown type 'switch'", "promoe_tc"});
  test::expect_error(
      [] {
        moe::from_json(nlohmann::json{{"router_weight_mode", "relu"}});
      },
      {"router_weight_mode 'relu'", "identity"});
  test::expect_error([] { moe::from_json(nlohmann::json{{"top_k", 1.5}}); }, {"top_k", "integer"});
  test::expect_error(
      [] {
        moe::from_json(nlohmann::json{{"type", "tc"}, {"rcl_lambda", 1.0}}).validate(8, 4);
      },
      {"rcl_lambda"});
  // make_model validates before allocating anything.
  nn::DiTConfig dit = moe::preset("ProMoE-Tiny").dit;
  MoeConfig b = small_promoe();
  b.top_k = 9;
  test::expect_error([&] { moe::make_model(dit, b, 0); }, {"top_k = 9"});
}

TEST_CASE("moe config: JSON round trip keeps every field") {
  MoeConfig c = small_promoe(MoeType::ProMoeEC, 6, 2);
  c.router_weight_mode = moe::RouterWeightMode::Sigmoid;
  c.rcl_temperature = 0.2;
  c.rcl_lambda = 3;
  c.rcl_use_topk = false;
  c.use_uncond_expert = false;
  c.interleave = false;
  c.capacity = 5;
  MoeConfig d = moe::from_json(moe::to_json(c));
  CHECK(moe::to_json(d) == moe::to_json(c));
  CHECK(d.type == MoeType::ProMoeEC);
  CHECK(d.router_weight_mode == moe::RouterWeightMode::Sigmoid);
  CHECK(d.capacity == 5);
  auto m = moe::configs_from_json(moe::configs_to_json(moe::preset("ProMoE-B").dit, moe::preset("ProMoE-B").moe));
  CHECK(m.dit.hidden_size == 768);
  CHECK(m.moe->moe_intermediate_size == 1536);
}

TEST_CASE("moe config: expert-choice capacity") {
  MoeConfig c = small_promoe(MoeType::ProMoeEC, 12, 1);
  CHECK(c.ec_capacity(256) == 21);  // floor(256 / 12) = 21: 252 slots for 256 tokens
  c.num_experts = 8;
  CHECK(c.ec_capacity(256) == 32);  // ECDiT-L-E8
  c.top_k = 2;
  CHECK(c.ec_capacity(256) == 64);
  c.num_experts = 4;
  c.top_k = 9;
  CHECK(c.ec_capacity(16) == 16);  // capped at N
  c.num_experts = 40;
  c.top_k = 1;
  CHECK(c.ec_capacity(16) == 1);  // at least one
}

TEST_CASE("promoe_tc: null-label tokens go to the unconditional expert with weight 1") {
  Generator gen(11);
  const int64_t D = 8, null = 10, K = 2;
  MoeConfig cfg = small_promoe(MoeType::ProMoeTC, 4, K);
  moe::ProMoETC layer(D, cfg, null, gen);
  Tensor u = gen.randn({2, 5, D});
  Tensor labels = from_vector<int64_t>({3, null}, {2});
  nn::ForwardContext ctx;
  ctx.record = true;
  ctx.aux = true;
  Tensor out = layer.forward(u, labels, 1, ctx);
  REQUIRE(ctx.records.count("route.blocks.1.idx"));
  std::vector<int64_t> idx = ctx.records["route.blocks.1.idx"].to_vector<int64_t>();
  std::vector<double> w = vals(ctx.records["route.blocks.1.w"]);
  CHECK(ctx.records["route.blocks.1.idx"].shape() == Shape({2, 5, K}));
  for (int64_t n = 0; n < 5; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      CHECK(idx[(5 + n) * K + k] == 4);  // expert E in every slot
      CHECK(idx[n * K + k] < 4);
    }
    CHECK(w[(5 + n) * K] == 1.0);
    CHECK(w[(5 + n) * K + 1] == 0.0);
    CHECK(idx[n * K] != idx[n * K + 1]);
    CHECK(w[n * K] >= w[n * K + 1]);  // descending cosine order
  }
  // The null sample's output is Expert_E(u) + Shared(u).
  Tensor un = select(u, 0, 1);
  Tensor want = layer.experts->mlps[4]->forward(un) + layer.shared_expert->forward(un);
  CHECK(max_abs_diff(select(out, 0, 1), want) < 1e-5);
  // With no unconditional expert the null label is routed like any other.
  MoeConfig no_unc = cfg;
  no_unc.use_uncond_expert = false;
  Generator gen2(11);
  moe::ProMoETC plain(D, no_unc, null, gen2);
  CHECK(plain.experts->size() == 4);
  nn::ForwardContext ctx2;
  ctx2.record = true;
  plain.forward(u, labels, 1, ctx2);
  for (int64_t v : ctx2.records["route.blocks.1.idx"].to_vector<int64_t>()) CHECK(v < 4);
}

TEST_CASE("promoe_tc: routed outputs are scaled by the raw top-1 cosine") {
  Generator gen(5);
  const int64_t D = 6;
  MoeConfig cfg = small_promoe(MoeType::ProMoeTC, 3, 1);
  cfg.use_shared_expert = false;
  moe::ProMoETC layer(D, cfg, 10, gen);
  Tensor u = gen.randn({1, 4, D});
  nn::ForwardContext ctx;
  ctx.record = true;
  Tensor out = layer.forward(u, from_vector<int64_t>({2}, {1}), 3, ctx);
  std::vector<int64_t> idx = ctx.records["route.blocks.3.idx"].to_vector<int64_t>();
  std::vector<double> w = vals(ctx.records["route.blocks.3.w"]);
  Tensor cos = matmul(normalize(reshape(u, {4, D}), 1), transpose(normalize(layer.cluster_centers, 1), 0, 1));
  std::vector<double> c = vals(cos);
  for (int64_t t = 0; t < 4; ++t) {
    double best = -2;
    for (int64_t e = 0; e < 3; ++e) best = std::max(best, c[t * 3 + e]);
    CHECK(w[t] == doctest::Approx(best).epsilon(1e-6));
    Tensor ut = select(select(u, 0, 0), 0, t);
    Tensor want = layer.experts->mlps[idx[t]]->forward(unsqueeze(ut, 0)) * w[t];
    CHECK(max_abs_diff(unsqueeze(select(select(out, 0, 0), 0, t), 0), want) < 1e-5);
  }
}

TEST_CASE("promoe_tc: the routing contrastive loss is a constant 0 with fewer than two valid experts") {
  Generator gen(2);
  Tensor U = gen.randn({6, 5}, DType::F64).set_requires_grad(true);
  Tensor P = gen.randn({3, 5}, DType::F64).set_requires_grad(true);
  Tensor none = moe::token_choice_rcl(U, P, {}, {}, 0.07);
  CHECK(none.item() == 0.0);
  CHECK_FALSE(none.requires_grad());
  Tensor one = moe::token_choice_rcl(U, P, {0, 1, 2, 3}, {2, 2, 2, 2}, 0.07);
  CHECK(one.item() == 0.0);
  CHECK_FALSE(one.requires_grad());
  Tensor two = moe::token_choice_rcl(U, P, {0, 1, 2, 3}, {2, 0, 2, 0}, 0.07);
  CHECK(two.requires_grad());
  CHECK(two.item() > 0);

  // In the layer: prototypes that send every conditional token to expert 0.
  const int64_t D = 6;
  MoeConfig cfg = small_promoe(MoeType::ProMoeTC, 3, 1);
  Generator g2(3);
  moe::ProMoETC layer(D, cfg, 10, g2);
  Tensor u = g2.randn({2, 4, D}) + 3.0;  // all tokens near the (3, 3, ...) direction
  raw::copy_(layer.cluster_centers,
             from_vector<float>({1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, 1, -1, -1, 1, -1, -1, -1}, {3, D}));
  nn::ForwardContext ctx;
  ctx.aux = true;
  ctx.record = true;
  layer.forward(u, from_vector<int64_t>({1, 10}, {2}), 1, ctx);
  for (int64_t v : ctx.records["route.blocks.1.idx"].to_vector<int64_t>()) CHECK((v == 0 || v == 3));
  REQUIRE(ctx.aux_unweighted.size() == 1);
  CHECK(ctx.aux_unweighted[0].first == "rcl.blocks.1");
  CHECK(ctx.aux_unweighted[0].second.item() == 0.0);
  // No aux losses outside training (ctx.aux off).
  nn::ForwardContext eval;
  layer.forward(u, from_vector<int64_t>({1, 10}, {2}), 1, eval);
  CHECK(eval.aux_losses.empty());
}

TEST_CASE("moe dispatch: idle experts receive defined zero gradients") {
  Generator gen(9);
  const int64_t D = 4, I = 3, T = 5, E = 3;
  std::vector<moe::ExpertWeights> ex;
  std::vector<Tensor> params;
  for (int64_t e = 0; e < E; ++e) {
    moe::ExpertWeights w{gen.randn({I, D}), gen.randn({I}), gen.randn({D, I}), gen.randn({D})};
    for (Tensor* t : {&w.w1, &w.b1, &w.w2, &w.b2}) {
      t->set_requires_grad(true);
      params.push_back(*t);
    }
    ex.push_back(w);
  }
  Tensor U = gen.randn({T, D}).set_requires_grad(true);
  Tensor w = gen.uniform({6}, 0.1, 1.0).set_requires_grad(true);
  // Expert 1 gets nothing; token 2 visits expert 2 twice.
  moe::Assignments a = moe::make_assignments({0, 1, 2, 2, 3, 4}, {0, 2, 2, 2, 0, 0}, w);
  Tensor out = moe::dispatch(U, a, ex);
  CHECK(max_abs_diff(out, moe::dispatch_reference(U, a, ex)) < 1e-5);
  sum(out * out).backward();
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(i);
    REQUIRE(params[i].grad().defined());
    double m = 0;
    for (double v : vals(params[i].grad())) m = std::max(m, std::abs(v));
    if (i / 4 == 1)
      CHECK(m == 0.0);
    else
      CHECK(m > 0.0);
  }
  // With no assignments at all every gradient is still a zero tensor.
  for (Tensor& p : params) p.zero_grad();
  Tensor none = moe::dispatch(U, moe::make_assignments({}, {}, raw::zeros({0})), ex);
  CHECK(vals(none) == std::vector<double>(T * D, 0.0));
  sum(none + U).backward();
  for (Tensor& p : params) CHECK(p.grad().defined());
}

TEST_CASE("moe dispatch: bad assignments are rejected with readable errors") {
  Generator gen(1);
  std::vector<moe::ExpertWeights> ex{{gen.randn({3, 4}), gen.randn({3}), gen.randn({4, 3}), gen.randn({4})}};
  Tensor U = gen.randn({2, 4});
  test::expect_error([&] { moe::dispatch(U, moe::make_assignments({0, 5}, {0, 0}, raw::ones({2})), ex); }, {"token 5"});
  test::expect_error(
      [&] {
        moe::dispatch(U, moe::make_assignments({0, 1}, {0, 1}, raw::ones({2})), ex);
      },
      {"expert 1"});
  test::expect_error(
      [&] {
        moe::dispatch(gen.randn({2, 5}), moe::make_assignments({0}, {0}, raw::ones({1})), ex);
      },
      {"expert 0"});
}

TEST_CASE("moe layers read the labels once per forward: the context keeps them for the next layer") {
  Generator gen(2);
  moe::ProMoETC first(8, small_promoe(), 10, gen), second(8, small_promoe(), 10, gen);
  Tensor u = gen.randn({2, 3, 8});
  Tensor labels = from_vector<int64_t>({4, 10}, {2});
  nn::ForwardContext ctx;
  first.forward(u, labels, 1, ctx);
  CHECK(ctx.host_labels_of.same(labels));
  CHECK(ctx.host_labels == std::vector<int64_t>{4, 10});
  second.forward(u, labels, 3, ctx);
  CHECK(ctx.host_labels == std::vector<int64_t>{4, 10});
  // Other labels in the same context are read (and checked) anew.
  Tensor other = from_vector<int64_t>({10, 1}, {2});
  Tensor out = second.forward(u, other, 3, ctx);
  CHECK(ctx.host_labels == std::vector<int64_t>{10, 1});
  nn::ForwardContext fresh;
  CHECK(max_abs_diff(out, second.forward(u, other, 3, fresh)) == 0.0);
  test::expect_error([&] { second.forward(u, from_vector<int64_t>({1, 11}, {2}), 3, ctx); }, {"label 11"});
}

TEST_CASE("moe layers: labels outside [0, null] are errors") {
  Generator gen(1);
  moe::ProMoETC layer(8, small_promoe(), 10, gen);
  nn::ForwardContext ctx;
  test::expect_error(
      [&] {
        layer.forward(gen.randn({1, 2, 8}), from_vector<int64_t>({11}, {1}), 1, ctx);
      },
      {"label 11"});
  // Through the whole model the label embedder rejects it first.
  auto [dit, m] = moe::preset("ProMoE-Tiny");
  dit.depth = 2;
  auto model = moe::make_model(dit, m, 0);
  test::expect_error(
      [&] {
        model->forward(gen.randn({1, 1, 32, 32}), raw::ones({1}), from_vector<int64_t>({12}, {1}));
      },
      {"12"});
}

TEST_CASE("promoe_ec: capacity picks per image, null images to the unconditional expert, records") {
  Generator gen(4);
  const int64_t D = 8, N = 9, E = 3;
  MoeConfig cfg = small_promoe(MoeType::ProMoeEC, E, 1);
  moe::ProMoEEC layer(D, cfg, 10, gen);
  Tensor u = gen.randn({3, N, D});
  nn::ForwardContext ctx;
  ctx.record = true;
  ctx.aux = true;
  Tensor out = layer.forward(u, from_vector<int64_t>({2, 10, 7}, {3}), 1, ctx);
  Tensor idx = ctx.records["route.blocks.1.idx"];
  CHECK(idx.shape() == Shape({3, E, 3}));  // capacity floor(9 / 3) = 3
  std::vector<int64_t> iv = idx.to_vector<int64_t>();
  std::vector<double> wv = vals(ctx.records["route.blocks.1.w"]);
  for (int64_t j = 0; j < E * 3; ++j) {
    CHECK(iv[E * 3 + j] == -1);
    CHECK(wv[E * 3 + j] == 0.0);
    CHECK(iv[j] >= 0);
    CHECK(iv[j] < N);
  }
  for (int64_t e = 0; e < E; ++e) {  // distinct tokens per expert, descending scores
    std::set<int64_t> picked(iv.begin() + e * 3, iv.begin() + e * 3 + 3);
    CHECK(picked.size() == 3);
    CHECK(wv[e * 3] >= wv[e * 3 + 1]);
  }
  Tensor un = select(u, 0, 1);
  CHECK(max_abs_diff(select(out, 0, 1), layer.experts->mlps[E]->forward(un) + layer.shared_expert->forward(un)) < 1e-5);
  REQUIRE(ctx.aux_unweighted.size() == 1);
  CHECK(ctx.aux_unweighted[0].second.item() > 0);
}

TEST_CASE("tc baseline: renormalised top-k weights sum to one; lb recorded") {
  Generator gen(6);
  MoeConfig cfg;
  cfg.type = MoeType::TC;
  cfg.num_experts = 4;
  cfg.top_k = 2;
  cfg.use_uncond_expert = cfg.use_shared_expert = false;
  cfg.moe_intermediate_size = 10;
  cfg.rcl_lambda = 0;
  cfg.norm_topk_prob = true;
  cfg.load_balance_coef = 0.01;
  moe::TokenChoiceMoE layer(8, cfg, gen);
  nn::ForwardContext ctx;
  ctx.record = true;
  ctx.aux = true;
  layer.forward(gen.randn({2, 3, 8}), from_vector<int64_t>({0, 1}, {2}), 1, ctx);
  std::vector<double> w = vals(ctx.records["route.blocks.1.w"]);
  for (int64_t t = 0; t < 6; ++t) CHECK(w[2 * t] + w[2 * t + 1] == doctest::Approx(1.0).epsilon(1e-6));
  REQUIRE(ctx.aux_losses.size() == 1);
  CHECK(ctx.aux_losses[0].first == "lb.blocks.1");
  CHECK(ctx.aux_losses[0].second.item() == doctest::Approx(0.01 * ctx.aux_unweighted[0].second.item()));
}

TEST_CASE("moe models: parameter names follow the official state_dict") {
  auto names_of = [](const std::shared_ptr<nn::DiT>& m) {
    std::set<std::string> s;
    for (auto& [n, t] : m->state_dict()) s.insert(n);
    return s;
  };
  nn::DiTConfig dit;
  dit.input_size = 8;
  dit.hidden_size = 16;
  dit.depth = 2;
  dit.num_heads = 2;
  dit.num_classes = 10;
  MoeConfig p = small_promoe();
  auto s = names_of(moe::make_model(dit, p, 0));
  for (const char* n :
       {"blocks.0.mlp.fc1.weight", "blocks.1.mlp.cluster_centers", "blocks.1.mlp.experts.0.up_proj.weight",
        "blocks.1.mlp.experts.4.down_proj.bias", "blocks.1.mlp.shared_expert.up_proj.bias"})
    CHECK_MESSAGE(s.count(n), n);
  CHECK_FALSE(s.count("blocks.1.mlp.experts.5.up_proj.weight"));
  MoeConfig tc = moe::preset("TCDiT-L-E8").moe.value();
  tc.moe_intermediate_size = 20;
  tc.interleave = false;
  s = names_of(moe::make_model(dit, tc, 0));
  for (const char* n :
       {"blocks.0.mlp.gate.weight", "blocks.0.mlp.experts.7.fc1.weight", "blocks.1.mlp.experts.0.fc2.bias"})
    CHECK_MESSAGE(s.count(n), n);
  MoeConfig ec = moe::preset("ECDiT-L-E8").moe.value();
  ec.moe_intermediate_size = 20;
  s = names_of(moe::make_model(dit, ec, 0));
  for (const char* n : {"blocks.1.mlp.gate_weight", "blocks.1.mlp.experts.7.fc2.weight", "blocks.0.mlp.fc2.weight"})
    CHECK_MESSAGE(s.count(n), n);
}

TEST_CASE("moe presets: paper parameter counts (docs/PROMOE.md 6.1)") {
  struct Want {
    const char* name;
    double total, activated;
  };
  for (Want w :
       {Want{"ProMoE-S", 75.54, 32.99}, Want{"ProMoE-B", 300.61, 130.57}, Want{"ProMoE-L", 1062.69, 458.26},
        Want{"ProMoE-XL", 1567.73, 675.34}, Want{"Dense-DiT-S", 32.96, 32.96}, Want{"Dense-DiT-B", 130.51, 130.51},
        Want{"Dense-DiT-L", 458.10, 458.10}, Want{"Dense-DiT-XL", 675.13, 675.13}}) {
    CAPTURE(w.name);
    auto [dit, m] = moe::preset(w.name);
    moe::ParamCount c = moe::count_parameters(dit, m);
    CHECK(round2(c.total) == doctest::Approx(w.total));
    CHECK(round2(c.activated) == doctest::Approx(w.activated));
  }
  auto [dit, m] = moe::preset("ProMoE-L");
  m->top_k = 3;  // Table 13: 559.0M with top-3
  CHECK(std::round(double(moe::count_parameters(dit, m).activated) / 1e5) / 10 == doctest::Approx(559.0));
  auto [tdit, tm] = moe::preset("TCDiT-L-E8");
  CHECK(std::round(double(moe::count_parameters(tdit, tm).total) / 1e6) == doctest::Approx(1163));
  auto [edit, em] = moe::preset("ECDiT-L-E8");
  CHECK(std::round(double(moe::count_parameters(edit, em).total) / 1e6) == doctest::Approx(1163));
}

TEST_CASE("moe presets: shape counts equal the built models' counts") {
  // The paper-size models would take seconds to initialise; their blocks are checked at depth 2
  // (one dense and one MoE block), which exercises the same shapes.
  for (const char* name :
       {"ProMoE-S", "Dense-DiT-S", "ProMoE-Tiny", "ProMoE-EC-Tiny", "TC-Tiny", "EC-Tiny", "Dense-Tiny"}) {
    CAPTURE(name);
    auto [dit, m] = moe::preset(name);
    if (dit.hidden_size > 128) dit.depth = 2;
    auto model = moe::make_model(dit, m, 0);
    moe::ParamCount c = moe::count_parameters(dit, m);
    CHECK(model->num_parameters() + model->pos_embed.numel() == c.total);
    CHECK(model->activated_parameters() == c.activated);
  }
  // The CPU pair has (almost) equal activated parameters: ProMoE adds prototypes and one bias.
  auto [d1, m1] = moe::preset("ProMoE-Tiny");
  auto [d2, m2] = moe::preset("Dense-Tiny");
  const double a1 = double(moe::count_parameters(d1, m1).activated),
               a2 = double(moe::count_parameters(d2, m2).activated);
  CHECK(std::abs(a1 - a2) / a2 < 0.01);
}

TEST_CASE("moe presets: an unknown name lists the valid ones") {
  test::expect_error([] { moe::preset("ProMoE-XXL"); }, {"unknown preset 'ProMoE-XXL'", "ProMoE-S", "Dense-Tiny"});
  for (const std::string& n : moe::preset_names()) CHECK_NOTHROW(moe::preset(n));
}

TEST_CASE("training_step_flops counts every matrix product of a step, dense and MoE blocks") {
  // 2 x 2 patches of a 4 x 4 image: N = 4 tokens of D = 8; batch 3, so T = 12 tokens.
  moe::ModelConfigs c;
  c.dit.input_size = 4;
  c.dit.patch_size = 2;
  c.dit.in_channels = 1;  // learn_sigma: 2 output channels
  c.dit.hidden_size = 8;
  c.dit.depth = 2;
  c.dit.num_heads = 2;
  // Per token: patch embedding 4*1*8, final linear 8*4*2, per block qkv + proj 4*64, attention
  // 2*4*8, MLP 2*8*32. Per image: final adaLN 2*64, per block adaLN 6*64. x 2 (FLOPs) x 3 (fwd + bwd).
  const double dense_block = 256 + 64 + 512, per_image = 128 + 2 * 384;
  CHECK(moe::training_step_flops(c, 3) == 6 * (12 * (32 + 64 + 2 * dense_block) + 3 * per_image));
  // Block 1 a ProMoE layer: top-1 of 4 experts of width 16, the router, a shared expert of width 16.
  moe::MoeConfig m;
  m.num_experts = 4;
  m.top_k = 1;
  m.moe_intermediate_size = 16;
  m.shared_expert_intermediate_size = 16;
  c.moe = m;
  const double moe_block = 256 + 64 + 2 * 8 * 16 + 8 * 4 + 2 * 8 * 16;
  CHECK(moe::training_step_flops(c, 3) == 6 * (12 * (32 + 64 + dense_block + moe_block) + 3 * per_image));
}
