// Gradient checks in double for the MoE ops (moe/): the fused expert dispatch against its composed
// reference and against central differences (with an idle expert and a token that visits the same
// expert from two slots), the centroid op, the routing contrastive loss against a straightforward
// composition, and whole ProMoE / baseline layers (routing weights, prototypes, experts).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "moe/dispatch.h"
#include "moe/expert_choice.h"
#include "moe/promoe_ec.h"
#include "moe/promoe_tc.h"
#include "moe/routing.h"
#include "moe/routing_losses.h"
#include "moe/token_choice.h"

using namespace promoe;
using moe::MoeConfig;
using moe::MoeType;

namespace {

using Inputs = std::vector<Tensor>;

Tensor param64(Generator& gen, const Shape& s, double std = 1.0) {
  Tensor t = gen.normal(s, 0.0, std, DType::F64);
  t.set_requires_grad(true);
  return t;
}

std::vector<moe::ExpertWeights> experts_from(const Inputs& in, size_t first, int64_t E) {
  std::vector<moe::ExpertWeights> ex;
  for (int64_t e = 0; e < E; ++e)
    ex.push_back({in[first + 4 * e], in[first + 4 * e + 1], in[first + 4 * e + 2], in[first + 4 * e + 3]});
  return ex;
}

double rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double d = 0, n = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    d += (x[i] - y[i]) * (x[i] - y[i]);
    n += y[i] * y[i];
  }
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

// Gradients of sum(f(in) * w) for each input (zeros where none reaches it).
std::vector<Tensor> grads_of(const std::function<Tensor(const Inputs&)>& f, const Inputs& inputs) {
  Inputs in;
  for (const Tensor& t : inputs) {
    Tensor c = raw::clone(t);
    c.set_requires_grad(t.requires_grad());
    in.push_back(c);
  }
  Tensor out = f(in);
  Generator g(77);
  sum(out * g.uniform(out.shape(), 0.5, 1.5, DType::F64)).backward();
  std::vector<Tensor> gs;
  for (Tensor& t : in) gs.push_back(t.grad().defined() ? t.grad() : raw::zeros(t.shape(), t.dtype()));
  return gs;
}

// Points every parameter of `m` at the matching f64 input (in named_parameters order).
struct ParamSlots {
  std::vector<Tensor*> slots;
  void bind(const Inputs& in, size_t first) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i] = in[first + i];
  }
};

void add_mlp(ParamSlots& s, nn::Mlp& m) {
  s.slots.insert(s.slots.end(), {&m.fc1->weight, m.fc1->bias, &m.fc2->weight, m.fc2->bias});
}

// f64 copies of the tensors behind the slots, requiring grad (random values, scaled).
Inputs f64_params(const ParamSlots& s, Generator& gen) {
  Inputs in;
  for (Tensor* t : s.slots) in.push_back(param64(gen, t->shape(), 0.6));
  return in;
}

// A fused op against its composed reference at `in`: values, every input's gradient, then central
// differences of the fused op.
template <typename Fused, typename Ref>
void check_against_reference(const Fused& fused, const Ref& ref, const Inputs& in) {
  {
    NoGradGuard ng;
    CHECK(rel_diff(fused(in), ref(in)) < 1e-14);
  }
  std::vector<Tensor> ga = grads_of(fused, in), gb = grads_of(ref, in);
  for (size_t i = 0; i < in.size(); ++i) {
    CAPTURE(i);
    CHECK(rel_diff(ga[i], gb[i]) < 1e-12);
  }
  GradcheckResult r = gradcheck(fused, in);
  CHECK_MESSAGE(r.ok, r.report);
}

}  // namespace

TEST_CASE("gradcheck: moe dispatch equals its composed reference and central differences") {
  Generator gen(21);
  const int64_t T = 5, D = 4, I = 3, E = 4;
  Inputs in{param64(gen, {T, D}), Tensor()};
  for (int64_t e = 0; e < E; ++e)
    for (const Shape& s : {Shape{I, D}, Shape{I}, Shape{D, I}, Shape{D}}) in.push_back(param64(gen, s, 0.7));
  // The fused op against the reference (values and every gradient) and central differences.
  auto check = [&](const std::vector<int64_t>& tok, const std::vector<int64_t>& ex) {
    in[1] = param64(gen, {int64_t(tok.size())});
    auto fused = [&](const Inputs& x) {
      return moe::dispatch(x[0], moe::make_assignments(tok, ex, x[1]), experts_from(x, 2, E));
    };
    auto ref = [&](const Inputs& x) {
      return moe::dispatch_reference(x[0], moe::make_assignments(tok, ex, x[1]), experts_from(x, 2, E));
    };
    check_against_reference(fused, ref, in);
  };
  // Token 1 visits expert 2 from two slots; expert 3 is idle; token 4 is in no assignment.
  check({0, 1, 1, 2, 3, 0, 2}, {0, 2, 2, 1, 0, 2, 0});
  // Every token exactly once (top-1 routing): combining is a gather; expert 2 is idle.
  check({3, 1, 4, 0, 2}, {1, 0, 1, 3, 0});
  // Token-choice slot tables give the same op.
  Tensor idx = from_vector<int64_t>({0, 2, 2, 1, 3, 0, 1, 1, 0, 2}, {T, 2});
  auto slots = [&](const Inputs& x) { return moe::dispatch(x[0], moe::from_slots(idx, x[1]), experts_from(x, 2, E)); };
  in[1] = param64(gen, {T, 2});
  GradcheckResult r2 = gradcheck(slots, in);
  CHECK_MESSAGE(r2.ok, r2.report);
}

TEST_CASE("gradcheck: moe dispatch with a shared expert (of another width) in the same grouped calls") {
  Generator gen(22);
  const int64_t T = 5, D = 4, I = 3, Is = 6, E = 3;
  Inputs in{param64(gen, {T, D}), Tensor()};
  for (int64_t e = 0; e <= E; ++e) {  // E routed experts, then the shared one
    const int64_t width = e == E ? Is : I;
    for (const Shape& s : {Shape{width, D}, Shape{width}, Shape{D, width}, Shape{D}})
      in.push_back(param64(gen, s, 0.7));
  }
  auto shared_of = [&](const Inputs& x) { return experts_from(x, 2 + 4 * size_t(E), 1)[0]; };
  auto check = [&](const std::vector<int64_t>& tok, const std::vector<int64_t>& ex) {
    in[1] = param64(gen, {int64_t(tok.size())});
    auto fused = [&](const Inputs& x) {
      const moe::ExpertWeights s = shared_of(x);
      return moe::dispatch(x[0], moe::make_assignments(tok, ex, x[1]), experts_from(x, 2, E), &s);
    };
    auto ref = [&](const Inputs& x) {
      const moe::ExpertWeights s = shared_of(x);
      return moe::dispatch_reference(x[0], moe::make_assignments(tok, ex, x[1]), experts_from(x, 2, E), &s);
    };
    check_against_reference(fused, ref, in);
  };
  check({0, 1, 1, 2, 3, 0}, {0, 2, 2, 1, 0, 2});  // token 4 reaches only the shared expert
  check({3, 1, 4, 0, 2}, {1, 0, 1, 2, 0});        // a permutation of the tokens: the gather path
}

TEST_CASE("gradcheck: fused cosine router scores against normalize + matmul") {
  Generator gen(13);
  Tensor x = param64(gen, {2, 5, 6}), P = param64(gen, {4, 6});
  auto f = [](const Inputs& in) { return moe::cosine_scores(in[0], in[1]); };
  auto g = [](const Inputs& in) { return moe::cosine_scores_reference(in[0], in[1]); };
  {
    NoGradGuard ng;
    CHECK(rel_diff(f({x, P}), g({x, P})) < 1e-14);
  }
  std::vector<Tensor> ga = grads_of(f, {x, P}), gb = grads_of(g, {x, P});
  CHECK(rel_diff(ga[0], gb[0]) < 1e-12);
  CHECK(rel_diff(ga[1], gb[1]) < 1e-12);
  GradcheckResult r = gradcheck(f, {x, P});
  CHECK_MESSAGE(r.ok, r.report);
  // A zero row: cosines 0 and F.normalize's clamped gradient g / eps, as the reference.
  Tensor z = raw::clone(x);
  raw::fill_(raw::select(raw::select(z, 0, 1), 0, 2), 0.0);
  z.set_requires_grad(true);
  std::vector<Tensor> za = grads_of(f, {z, P}), zb = grads_of(g, {z, P});
  CHECK(rel_diff(za[0], zb[0]) < 1e-12);
  CHECK(rel_diff(za[1], zb[1]) < 1e-12);
}

TEST_CASE("gradcheck: group means (the RCL centroids)") {
  Generator gen(3);
  Tensor U = param64(gen, {6, 4});
  const std::vector<int64_t> rows{0, 2, 3, 5, 2, 1}, group{1, 0, 1, 2, 2, 0};
  auto g = [&](const Inputs& x) { return moe::group_means_reference(x[0], rows, group, 3); };
  for (int64_t dense_limit : {int64_t(1) << 22, int64_t(0)}) {  // the averaging-matrix product, then the gather path
    CAPTURE(dense_limit);
    auto f = [&](const Inputs& x) { return moe::group_means(x[0], rows, group, 3, dense_limit); };
    {
      NoGradGuard ng;
      CHECK(rel_diff(f({U}), g({U})) < 1e-14);
    }
    CHECK(rel_diff(grads_of(f, {U})[0], grads_of(g, {U})[0]) < 1e-13);
    GradcheckResult r = gradcheck(f, {U});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

namespace {
// The routing contrastive loss written out directly (docs/PROMOE.md §2.6): per-expert means by masks
// in ascending expert order, cosine logits over tau, then -l_ii + log sum_j exp(l_ij) averaged.
Tensor rcl_straight(const Tensor& U, const Tensor& P, const std::vector<int64_t>& rows,
                    const std::vector<int64_t>& experts, double tau) {
  const int64_t E = P.size(0);
  std::vector<Tensor> means, protos;
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> members;
    for (size_t m = 0; m < rows.size(); ++m)
      if (experts[m] == e) members.push_back(rows[m]);
    if (members.empty()) continue;
    means.push_back(mean(index_select(U, 0, from_vector(members, {int64_t(members.size())})), {0}));
    protos.push_back(select(P, 0, e));
  }
  const int64_t Na = int64_t(means.size());
  Tensor loss = zeros({}, DType::F64);
  for (int64_t i = 0; i < Na; ++i) {
    Tensor pi = protos[i] / sqrt(sum(protos[i] * protos[i]));
    std::vector<Tensor> l;
    for (int64_t j = 0; j < Na; ++j) l.push_back(sum(pi * means[j]) / sqrt(sum(means[j] * means[j])) * (1.0 / tau));
    Tensor li = stack(l, 0);
    loss = loss + log(sum(exp(li))) - l[i];
  }
  return loss / double(Na);
}
}  // namespace

TEST_CASE("gradcheck: routing contrastive loss against a straightforward composition") {
  Generator gen(8);
  const int64_t T = 9, D = 5, E = 4;
  Tensor U = param64(gen, {T, D}), P = param64(gen, {E, D});
  // Expert 1 has no member (not valid); token 4 counts toward experts 0 and 3 (top-2 membership).
  const std::vector<int64_t> rows{0, 1, 2, 3, 4, 4, 5, 6, 8}, ex{0, 2, 3, 2, 0, 3, 0, 3, 2};
  for (double tau : {0.07, 0.5}) {
    CAPTURE(tau);
    auto fused = [&](const Inputs& x) { return moe::token_choice_rcl(x[0], x[1], rows, ex, tau); };
    auto straight = [&](const Inputs& x) { return rcl_straight(x[0], x[1], rows, ex, tau); };
    {
      NoGradGuard ng;
      CHECK(rel_diff(fused({U, P}), straight({U, P})) < 1e-13);
    }
    std::vector<Tensor> ga = grads_of(fused, {U, P}), gb = grads_of(straight, {U, P});
    CHECK(rel_diff(ga[0], gb[0]) < 1e-12);
    CHECK(rel_diff(ga[1], gb[1]) < 1e-12);
    // Row 7 is in no cluster and prototype 1 is not valid: exactly zero gradients.
    for (double v : raw::select(ga[0], 0, 7).to_vector<double>()) CHECK(v == 0.0);
    for (double v : raw::select(ga[1], 0, 1).to_vector<double>()) CHECK(v == 0.0);
    GradcheckResult r = gradcheck(fused, {U, P}, {1e-6, 1e-6, 1e-5});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // Expert-choice form: one centroid set per image, mean over all rows.
  Tensor M = param64(gen, {3, E, D});
  GradcheckResult r = gradcheck([](const Inputs& x) { return moe::contrastive_loss(x[0], x[1], 0.07); }, {P, M});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("gradcheck: load-balance loss") {
  Generator gen(4);
  Tensor z = param64(gen, {6, 3});
  const std::vector<int64_t> assigned{0, 1, 1, 2, 0, 0, 2, 1, 1, 1, 0, 2};  // (6 rows * top-2)
  GradcheckResult r =
      gradcheck([&](const Inputs& x) { return moe::load_balance_loss(softmax(x[0], 1), assigned); }, {z});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("gradcheck: ProMoE token-choice layer (routing weights, prototypes, experts, RCL, load balance)") {
  for (auto mode : {moe::RouterWeightMode::Identity, moe::RouterWeightMode::Sigmoid, moe::RouterWeightMode::Softmax}) {
    CAPTURE(moe::mode_name(mode));
    Generator gen(31);
    const int64_t D = 6, B = 3, N = 3;
    MoeConfig cfg;
    cfg.num_experts = 3;
    cfg.top_k = 2;
    cfg.moe_intermediate_size = 4;
    cfg.shared_expert_intermediate_size = 3;
    cfg.router_weight_mode = mode;
    cfg.load_balance_coef = 0.3;
    moe::ProMoETC layer(D, cfg, 10, gen);
    ParamSlots slots;
    slots.slots.push_back(&layer.cluster_centers);
    for (auto& m : layer.experts->mlps) add_mlp(slots, *m);
    add_mlp(slots, *layer.shared_expert);
    Inputs in{param64(gen, {B, N, D})};
    Inputs ps = f64_params(slots, gen);
    in.insert(in.end(), ps.begin(), ps.end());
    Tensor labels = from_vector<int64_t>({4, 10, 7}, {B});  // the middle sample is unconditional
    auto f = [&](const Inputs& x) {
      slots.bind(x, 1);
      nn::ForwardContext ctx;
      ctx.aux = true;
      Tensor out = layer.forward(x[0], labels, 1, ctx);
      std::vector<Tensor> parts{reshape(out, {-1})};
      for (auto& [name, l] : ctx.aux_losses) parts.push_back(reshape(l, {1}));
      REQUIRE(ctx.aux_losses.size() == 2);
      return cat(parts, 0);
    };
    GradcheckResult r = gradcheck(f, in, {1e-6, 1e-6, 1e-5});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("gradcheck: ProMoE expert-choice layer") {
  Generator gen(12);
  const int64_t D = 6, B = 3, N = 4;
  MoeConfig cfg;
  cfg.type = MoeType::ProMoeEC;
  cfg.num_experts = 2;
  cfg.top_k = 1;  // capacity 2
  cfg.moe_intermediate_size = 4;
  cfg.shared_expert_intermediate_size = 3;
  cfg.router_weight_mode = moe::RouterWeightMode::Softmax;
  moe::ProMoEEC layer(D, cfg, 10, gen);
  ParamSlots slots;
  slots.slots.push_back(&layer.cluster_centers);
  for (auto& m : layer.experts->mlps) add_mlp(slots, *m);
  add_mlp(slots, *layer.shared_expert);
  Inputs in{param64(gen, {B, N, D})};
  Inputs ps = f64_params(slots, gen);
  in.insert(in.end(), ps.begin(), ps.end());
  Tensor labels = from_vector<int64_t>({10, 1, 2}, {B});
  auto f = [&](const Inputs& x) {
    slots.bind(x, 1);
    nn::ForwardContext ctx;
    ctx.aux = true;
    Tensor out = layer.forward(x[0], labels, 1, ctx);
    REQUIRE(ctx.aux_losses.size() == 1);
    return cat({reshape(out, {-1}), reshape(ctx.aux_losses[0].second, {1})}, 0);
  };
  GradcheckResult r = gradcheck(f, in, {1e-6, 1e-6, 1e-5});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("gradcheck: token-choice and expert-choice baselines") {
  Generator gen(17);
  const int64_t D = 5, B = 2, N = 4;
  MoeConfig tc;
  tc.type = MoeType::TC;
  tc.num_experts = 3;
  tc.top_k = 2;
  tc.norm_topk_prob = true;
  tc.use_uncond_expert = false;
  tc.use_shared_expert = true;
  tc.moe_intermediate_size = 4;
  tc.shared_expert_intermediate_size = 3;
  tc.rcl_lambda = 0;
  tc.load_balance_coef = 0.2;
  moe::TokenChoiceMoE t(D, tc, gen);
  ParamSlots ts;
  ts.slots.push_back(t.gate_weight);
  for (auto& m : t.experts->mlps) add_mlp(ts, *m);
  add_mlp(ts, *t.shared_expert);
  Inputs in{param64(gen, {B, N, D})};
  Inputs ps = f64_params(ts, gen);
  in.insert(in.end(), ps.begin(), ps.end());
  Tensor labels = from_vector<int64_t>({1, 2}, {B});
  auto f = [&](const Inputs& x) {
    ts.bind(x, 1);
    nn::ForwardContext ctx;
    ctx.aux = true;
    Tensor out = t.forward(x[0], labels, 1, ctx);
    return cat({reshape(out, {-1}), reshape(ctx.aux_losses.at(0).second, {1})}, 0);
  };
  GradcheckResult r = gradcheck(f, in, {1e-6, 1e-6, 1e-5});
  CHECK_MESSAGE(r.ok, r.report);

  MoeConfig ec = tc;
  ec.type = MoeType::EC;
  ec.top_k = 1;
  ec.load_balance_coef = 0;
  ec.use_shared_expert = false;
  moe::ExpertChoiceMoE e(D, ec, gen);
  ParamSlots es;
  es.slots.push_back(&e.gate_weight);
  for (auto& m : e.experts->mlps) add_mlp(es, *m);
  Inputs in2{param64(gen, {B, N, D})};
  Inputs ps2 = f64_params(es, gen);
  in2.insert(in2.end(), ps2.begin(), ps2.end());
  auto g = [&](const Inputs& x) {
    es.bind(x, 1);
    nn::ForwardContext ctx;
    return e.forward(x[0], labels, 1, ctx);
  };
  GradcheckResult r2 = gradcheck(g, in2, {1e-6, 1e-6, 1e-5});
  CHECK_MESSAGE(r2.ok, r2.report);
}

namespace {
// A job of `n` identical ranks as one rank sees it: every sum over the ranks is n times its own.
struct IdenticalRanks final : nn::ReplicaSum {
  explicit IdenticalRanks(int n) : n(n) {}
  Tensor sum(const Tensor& t) override { return raw::mul(t, raw::scalar(double(n), t.dtype(), t.device())); }
  int replicas() const override { return n; }
  int n;
};
}  // namespace

TEST_CASE("gradcheck: routing losses over the global batch equal the per-rank ones when every rank is alike") {
  Generator gen(12);
  const int64_t T = 9, D = 5, E = 4;
  Tensor U = param64(gen, {T, D}), P = param64(gen, {E, D}), z = param64(gen, {6, E});
  const std::vector<int64_t> rows{0, 1, 2, 3, 4, 4, 5, 6, 8}, ex{0, 2, 3, 2, 0, 3, 0, 3, 2};
  const std::vector<int64_t> assigned{0, 1, 1, 2, 0, 0, 2, 1, 1, 1, 0, 3};
  auto rcl = [&](const Inputs& x) { return moe::token_choice_rcl(x[0], x[1], rows, ex, 0.07); };
  auto lb = [&](const Inputs& x) { return moe::load_balance_loss(softmax(x[0], 1), assigned); };
  Tensor M = param64(gen, {3, E, D});  // expert choice: per-image centroids of 3 conditional images
  auto ec = [&](const Inputs& x) { return moe::contrastive_loss(x[0], x[1], 0.07); };
  for (int n : {1, 3}) {
    CAPTURE(n);
    IdenticalRanks ranks(n);
    auto rcl_global = [&](const Inputs& x) { return moe::token_choice_rcl_global(x[0], x[1], rows, ex, 0.07, ranks); };
    auto lb_global = [&](const Inputs& x) {
      return moe::load_balance_loss_global(softmax(x[0], 1), assigned, E, ranks, DType::F64, Device::cpu());
    };
    {
      NoGradGuard ng;
      CHECK(rel_diff(rcl_global({U, P}), rcl({U, P})) < 1e-13);
      CHECK(rel_diff(lb_global({z}), lb({z})) < 1e-13);
    }
    std::vector<Tensor> ga = grads_of(rcl_global, {U, P}), gb = grads_of(rcl, {U, P});
    CHECK(rel_diff(ga[0], gb[0]) < 1e-12);
    CHECK(rel_diff(ga[1], gb[1]) < 1e-12);
    CHECK(rel_diff(grads_of(lb_global, {z})[0], grads_of(lb, {z})[0]) < 1e-12);
    auto ec_global = [&](const Inputs& x) {
      return moe::expert_choice_rcl_global(x[0], x[1], 3, 0.07, ranks, DType::F64, Device::cpu());
    };
    CHECK(rel_diff(ec_global({P, M}), ec({P, M})) < 1e-13);
    std::vector<Tensor> gc = grads_of(ec_global, {P, M}), gd = grads_of(ec, {P, M});
    CHECK(rel_diff(gc[0], gd[0]) < 1e-12);
    CHECK(rel_diff(gc[1], gd[1]) < 1e-12);
    GradcheckResult r = gradcheck(rcl_global, {U, P}, {1e-6, 1e-6, 1e-5});
    CHECK_MESSAGE(r.ok, r.report);
    r = gradcheck(lb_global, {z});
    CHECK_MESSAGE(r.ok, r.report);
    r = gradcheck(ec_global, {P, M}, {1e-6, 1e-6, 1e-5});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // A rank without member rows or conditional tokens still joins the sums and gets the loss.
  IdenticalRanks two(2);
  CHECK(moe::token_choice_rcl_global(U, P, {}, {}, 0.07, two).item() == 0.0);
  CHECK(moe::load_balance_loss_global(Tensor(), {}, E, two, DType::F64, Device::cpu()).item() == 0.0);
  CHECK(moe::expert_choice_rcl_global(P, Tensor(), 0, 0.07, two, DType::F64, Device::cpu()).item() == 0.0);
}
