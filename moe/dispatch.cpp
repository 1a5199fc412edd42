// The fused expert dispatch op and its composed reference.
#include "moe/dispatch.h"

#include <algorithm>
#include <memory>
#include <string>

#include "moe/fused_grouped.h"
#include "moe/routing.h"  // row_sums

namespace promoe::moe {

namespace {

using Grads = std::vector<Tensor>;

// An expert MLP (D -> I -> D) of U's dtype; returns I.
int64_t check_mlp(const ExpertWeights& w, const Tensor& U, const std::string& which) {
  const int64_t D = U.size(1);
  PROMOE_CHECK(w.w1.defined() && w.b1.defined() && w.w2.defined() && w.b2.defined(), "dispatch: ", which,
               " has undefined weights");
  const int64_t I = w.w1.dim() == 2 ? w.w1.size(0) : -1;
  PROMOE_CHECK(w.w1.shape() == Shape({I, D}) && w.b1.shape() == Shape{I} && w.w2.shape() == Shape({D, I}) &&
                   w.b2.shape() == Shape{D},
               "dispatch: ", which, " weights ", describe(w.w1), ", ", describe(w.b1), ", ", describe(w.w2), ", ",
               describe(w.b2), " do not form a (", D, " -> I -> ", D, ") MLP");
  PROMOE_CHECK(w.w1.dtype() == U.dtype(), "dispatch: ", which, " dtype ", describe(w.w1), " differs from U ",
               describe(U));
  return I;
}

void check_inputs(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts,
                  const ExpertWeights* shared, std::vector<int64_t>& tok, std::vector<int64_t>& ex) {
  PROMOE_CHECK(U.defined() && U.dim() == 2, "dispatch: U must be (T, D), got ",
               U.defined() ? describe(U) : "undefined");
  PROMOE_CHECK(a.token.defined() && a.expert.defined() && a.weight.defined(), "dispatch: incomplete assignments");
  raw::check_index_tensor(a.token, "dispatch (token)");
  raw::check_index_tensor(a.expert, "dispatch (expert)");
  const int64_t A = a.token.numel(), T = U.size(0);
  PROMOE_CHECK(a.token.dim() == 1 && a.expert.shape() == Shape{A} && a.weight.shape() == Shape{A}, "dispatch: token ",
               describe(a.token), ", expert ", describe(a.expert), " and weight ", describe(a.weight),
               " must all be (A)");
  PROMOE_CHECK(a.weight.dtype() == U.dtype(), "dispatch: weight ", describe(a.weight), " and U ", describe(U),
               " differ in dtype");
  PROMOE_CHECK(!experts.empty(), "dispatch: no experts");
  const int64_t I = check_mlp(experts[0], U, "expert 0");
  for (size_t e = 1; e < experts.size(); ++e)
    PROMOE_CHECK(check_mlp(experts[e], U, "expert " + std::to_string(e)) == I,
                 "dispatch: experts of different widths (", I, " and ", experts[e].w1.size(0), ")");
  if (shared) check_mlp(*shared, U, "shared expert");
  tok = a.token_host.size() == size_t(A) ? a.token_host : a.token.to_vector<int64_t>();
  ex = a.expert_host.size() == size_t(A) ? a.expert_host : a.expert.to_vector<int64_t>();
  const int64_t E = int64_t(experts.size());
  for (int64_t i = 0; i < A; ++i) {
    PROMOE_CHECK(tok[i] >= 0 && tok[i] < T, "dispatch: assignment ", i, " names token ", tok[i], " of ", T);
    PROMOE_CHECK(ex[i] >= 0 && ex[i] < E, "dispatch: assignment ", i, " names expert ", ex[i], " of ", E);
  }
}

// Counting sort of the assignments by expert (stable): sorted position p holds assignment
// order[p]; expert e owns positions [offset[e], offset[e + 1]). When every one of the T tokens
// has exactly one assignment (top-1 routing with the unconditional expert), token t sits at sorted
// position position_of[t], and combining is a gather instead of a scatter-add into zeros.
struct Plan {
  std::vector<int64_t> offset;
  std::vector<int64_t> order, sorted_token;
  std::vector<int64_t> position_of;  // empty unless the assignments are a permutation of the tokens
};

Plan make_plan(const std::vector<int64_t>& tok, const std::vector<int64_t>& ex, int64_t E, int64_t T) {
  Plan p;
  p.offset.assign(E + 1, 0);
  for (int64_t e : ex) ++p.offset[e + 1];
  for (int64_t e = 0; e < E; ++e) p.offset[e + 1] += p.offset[e];
  std::vector<int64_t> next(p.offset.begin(), p.offset.end() - 1);
  p.order.resize(ex.size());
  p.sorted_token.resize(ex.size());
  for (size_t a = 0; a < ex.size(); ++a) {
    int64_t at = next[ex[a]]++;
    p.order[at] = int64_t(a);
    p.sorted_token[at] = tok[a];
  }
  if (int64_t(tok.size()) == T) {
    p.position_of.assign(T, -1);
    for (int64_t at = 0; at < T; ++at) {
      int64_t& slot = p.position_of[p.sorted_token[at]];
      if (slot >= 0) {  // a token with two assignments: not a permutation
        p.position_of.clear();
        break;
      }
      slot = at;
    }
  }
  return p;
}

// A group of rows through one MLP: a busy expert e's segment of the sorted assignments, rows
// [at, at + n) of the sorted buffers, or (e = the number of routed experts) the shared expert over
// all T tokens, with buffers of its own.
struct Segment {
  int64_t expert, at, n;
};

// Segment s of a sorted buffer t (A, ...): its rows [s.at, s.at + s.n).
Tensor rows(const Tensor& t, const Segment& s) { return raw::narrow(t, 0, s.at, s.n); }

// of(s) for every group s: the argument lists of the grouped ops.
template <typename Of>
std::vector<Tensor> per_segment(const std::vector<Segment>& groups, Of of) {
  std::vector<Tensor> v;
  v.reserve(groups.size());
  for (const Segment& s : groups) v.push_back(of(s));
  return v;
}

}  // namespace

Assignments make_assignments(const std::vector<int64_t>& token, const std::vector<int64_t>& expert,
                             const Tensor& weight) {
  PROMOE_CHECK(token.size() == expert.size(), "make_assignments: ", token.size(), " tokens but ", expert.size(),
               " experts");
  const Shape s{int64_t(token.size())};
  return {raw::from_vector(token, s, weight.device()), raw::from_vector(expert, s, weight.device()), weight, token,
          expert};
}

Assignments from_slots(const Tensor& idx, const Tensor& w) {
  PROMOE_CHECK(idx.dim() == 2 && w.shape() == idx.shape(), "from_slots: idx ", describe(idx), " and w ", describe(w),
               " must both be (T, K)");
  const int64_t T = idx.size(0), K = idx.size(1);
  std::vector<int64_t> tok(T * K);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) tok[t * K + k] = t;
  return {raw::from_vector(tok, {T * K}, idx.device()),
          raw::reshape(raw::contiguous(idx), {T * K}),
          reshape(w, {T * K}),
          tok,
          {}};
}

namespace {

// One dispatch call, planned: the busy experts' segments of the sorted assignment buffer (and the
// shared expert as one more group, over all tokens, with buffers of its own), the index tensors that
// sort rows into that buffer and back, and the MLPs (the shared expert is MLP E).
struct DispatchPlan {
  int64_t T, D, A, E, I, Is;
  Device dev;
  DType dt;
  Plan order_plan;
  Tensor sorted_token, order, position_of;
  std::vector<Segment> groups;
  std::vector<ExpertWeights> mlps;

  bool has_shared() const { return Is > 0; }
  // Group s's rows of a sorted buffer, or for the shared expert its own buffer.
  Tensor part(const Segment& s, const Tensor& sorted, const Tensor& own) const {
    return s.expert == E ? own : rows(sorted, s);
  }
  std::vector<Tensor> parts(const Tensor& sorted, const Tensor& own) const {
    return per_segment(groups, [&](const Segment& s) { return part(s, sorted, own); });
  }
  // Every group's MLP parameter `member`, as (in, out) views of (out, in) weights when transposed.
  std::vector<Tensor> weights_of(Tensor ExpertWeights::*member, bool transposed) const {
    return per_segment(groups, [&](const Segment& s) {
      const Tensor& p = mlps[size_t(s.expert)].*member;
      return transposed ? raw::transpose(p, 0, 1) : p;
    });
  }
  // A buffer of the shared expert (undefined without one).
  Tensor own_buffer(const Shape& shape) const { return has_shared() ? Tensor::empty(shape, dt, dev) : Tensor(); }
  Tensor sorted_buffer(int64_t width) const { return Tensor::empty({A, width}, dt, dev); }
  // Sorted rows (A, D) back to token order (T, D): a gather when the assignments are a permutation
  // of the tokens, else a sum into zeros.
  Tensor to_tokens(const Tensor& sorted) const {
    if (position_of.defined()) return raw::index_select(sorted, 0, position_of);
    Tensor out = raw::zeros({T, D}, dt, dev);
    raw::index_add_(out, 0, sorted_token, sorted);
    return out;
  }
};

DispatchPlan plan_dispatch(const Tensor& U, const std::vector<int64_t>& tok, const std::vector<int64_t>& ex,
                           const std::vector<ExpertWeights>& experts, const ExpertWeights* shared) {
  DispatchPlan p;
  p.T = U.size(0), p.D = U.size(1), p.A = int64_t(tok.size()), p.E = int64_t(experts.size());
  p.I = experts[0].w1.size(0), p.Is = shared ? shared->w1.size(0) : 0;
  p.dev = U.device();
  p.dt = U.dtype();
  p.order_plan = make_plan(tok, ex, p.E, p.T);
  const Plan& o = p.order_plan;
  p.sorted_token = raw::from_vector(o.sorted_token, {p.A}, p.dev);
  p.order = raw::from_vector(o.order, {p.A}, p.dev);
  if (!o.position_of.empty()) p.position_of = raw::from_vector(o.position_of, {p.T}, p.dev);
  for (int64_t e = 0; e < p.E; ++e)
    if (o.offset[e + 1] > o.offset[e]) p.groups.push_back({e, o.offset[e], o.offset[e + 1] - o.offset[e]});
  if (shared) p.groups.push_back({p.E, 0, p.T});
  p.mlps = experts;
  if (shared) p.mlps.push_back(*shared);
  return p;
}

// What forward keeps for backward: the gathered input rows X and their weights ws (sorted order),
// the pre-activations (with b1), GELU outputs and MLP outputs (with b2, unweighted): sorted (A, .)
// for the routed experts, (T, .) for the shared one.
struct DispatchActivations {
  Tensor X, ws, Hpre, Hs_pre, H, Hs, Y, Ys;
};

// Two grouped linear layers (the biases and GELU as their epilogue), each group writing its segment
// of one sorted buffer in place; weighting and combining run over the whole sorted buffer.
Tensor dispatch_forward(const DispatchPlan& p, const Tensor& U, const Tensor& weight, DispatchActivations& a) {
  a.X = raw::index_select(U, 0, p.sorted_token);  // (A, D) rows grouped by expert
  a.ws = raw::index_select(weight, 0, p.order);   // (A) weights in the same order
  a.Hpre = p.sorted_buffer(p.I), a.Hs_pre = p.own_buffer({p.T, p.Is});
  a.H = p.sorted_buffer(p.I), a.Hs = p.own_buffer({p.T, p.Is});
  a.Y = p.sorted_buffer(p.D), a.Ys = p.own_buffer({p.T, p.D});
  fused::grouped_linear_into(p.parts(a.Hpre, a.Hs_pre), p.parts(a.X, U), p.weights_of(&ExpertWeights::w1, true),
                             p.weights_of(&ExpertWeights::b1, false), p.parts(a.H, a.Hs));
  fused::grouped_linear_into(p.parts(a.Y, a.Ys), p.parts(a.H, a.Hs), p.weights_of(&ExpertWeights::w2, true),
                             p.weights_of(&ExpertWeights::b2, false));
  Tensor O = p.to_tokens(raw::mul(a.Y, raw::unsqueeze(a.ws, 1)));
  if (a.Ys.defined()) raw::add_(O, a.Ys);
  return O;
}

// Gradients in the order of dispatch's inputs (U, the assignment weights, then w1, b1, w2, b2 of
// every MLP) where `needs` says so. Each layer's products (weight, bias and input gradients) are
// one grouped call; bias gradients are column sums, products with a row of ones.
Grads dispatch_backward(const DispatchPlan& p, const DispatchActivations& a, const Tensor& U,
                        const std::vector<bool>& needs, const std::vector<Tensor>& params, const Tensor& gO) {
  const int64_t A = p.A, D = p.D, T = p.T, E = p.E;
  Grads grads(needs.size());
  Tensor G = raw::index_select(gO, 0, p.sorted_token);  // (A, D) upstream rows in sorted order
  Tensor gY = raw::mul(G, raw::unsqueeze(a.ws, 1));     // (A, D) d loss / d expert output
  Tensor gH = p.sorted_buffer(p.I), gHpre = p.sorted_buffer(p.I), gX = p.sorted_buffer(D);
  Tensor gHs = p.own_buffer({T, p.Is}), gHs_pre = p.own_buffer({T, p.Is}), gXs = p.own_buffer({T, D});
  auto param = [&](int64_t e, int j) { return params[4 * e + j]; };
  auto slot = [](int64_t e, int j) { return 2 + 4 * size_t(e) + size_t(j); };
  // A parameter gradient of MLP e, when needed: a fresh tensor to write into, else none.
  auto grad_of = [&](int64_t e, int j) {
    return needs[slot(e, j)] ? (grads[slot(e, j)] = Tensor::empty(param(e, j).shape(), p.dt, p.dev)) : Tensor();
  };
  int64_t longest = 0;
  for (const Segment& s : p.groups) longest = std::max(longest, s.n);
  Tensor ones = raw::ones({1, longest}, p.dt, p.dev);
  std::vector<Tensor> o, x, w;
  auto product = [&](const Tensor& out, const Tensor& left, const Tensor& right) {
    o.push_back(out);
    x.push_back(left);
    w.push_back(right);
  };
  // Layer 2: dW2 = gy^T h, db2 = 1^T gy, gh = gy W2.
  for (const Segment& s : p.groups) {
    const Tensor gy = p.part(s, gY, gO);
    if (Tensor dW2 = grad_of(s.expert, 2); dW2.defined()) product(dW2, raw::transpose(gy, 0, 1), p.part(s, a.H, a.Hs));
    if (Tensor db2 = grad_of(s.expert, 3); db2.defined())
      product(raw::unsqueeze(db2, 0), raw::narrow(ones, 1, 0, s.n), gy);
    product(p.part(s, gH, gHs), gy, param(s.expert, 2));
  }
  fused::grouped_matmul_into(o, x, w);
  // GELU and b1, then layer 1: dW1 = ghp^T x, gx = ghp W1.
  std::vector<Tensor> db1 = per_segment(p.groups, [&](const Segment& s) {
    Tensor g = grad_of(s.expert, 1);
    return g.defined() ? g : Tensor::empty(param(s.expert, 1).shape(), p.dt, p.dev);
  });
  fused::grouped_bias_gelu_backward_into(p.parts(gHpre, gHs_pre), db1, p.parts(gH, gHs), p.parts(a.Hpre, a.Hs_pre));
  o.clear(), x.clear(), w.clear();
  for (const Segment& s : p.groups) {
    const Tensor ghp = p.part(s, gHpre, gHs_pre);
    if (Tensor dW1 = grad_of(s.expert, 0); dW1.defined()) product(dW1, raw::transpose(ghp, 0, 1), p.part(s, a.X, U));
    product(p.part(s, gX, gXs), ghp, param(s.expert, 0));
  }
  fused::grouped_matmul_into(o, x, w);
  for (int64_t e = 0; e < E; ++e)  // idle experts: defined zero gradients
    for (int j = 0; j < 4; ++j)
      if (needs[slot(e, j)] && !grads[slot(e, j)].defined())
        grads[slot(e, j)] = raw::zeros(param(e, j).shape(), p.dt, p.dev);
  if (needs[0]) {
    grads[0] = p.to_tokens(gX);
    if (gXs.defined()) raw::add_(grads[0], gXs);
  }
  if (needs[1]) {                       // d loss / d weight = <G, y> per row, back from sorted to assignment order
    std::vector<int64_t> sorted_at(A);  // order is a permutation: invert it
    for (int64_t at = 0; at < A; ++at) sorted_at[p.order_plan.order[at]] = at;
    grads[1] =
        raw::index_select(raw::reshape(row_sums(raw::mul(G, a.Y)), {A}), 0, raw::from_vector(sorted_at, {A}, p.dev));
  }
  return grads;
}

}  // namespace

// Plan (sort the assignments by expert), forward (two grouped layers), and, when an input needs a
// gradient, record backward (the same grouped calls in reverse).
Tensor dispatch(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts,
                const ExpertWeights* shared) {
  std::vector<int64_t> tok, ex;
  check_inputs(U, a, experts, shared, tok, ex);
  const DispatchPlan plan = plan_dispatch(U, tok, ex, experts, shared);
  DispatchActivations act;
  Tensor O = dispatch_forward(plan, U, a.weight, act);

  std::vector<Tensor> inputs{U, a.weight};
  for (const ExpertWeights& w : plan.mlps) inputs.insert(inputs.end(), {w.w1, w.b1, w.w2, w.b2});
  if (!needs_grad(inputs)) return O;
  std::vector<bool> needs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) needs[i] = inputs[i].defined() && inputs[i].requires_grad();
  std::vector<Tensor> params;
  for (size_t i = 2; i < inputs.size(); ++i) params.push_back(inputs[i].detach());
  act.ws = act.ws.detach();
  act.Ys = Tensor();  // backward does not read the shared expert's output: free it with the forward
  const Tensor sU = U.detach();
  return record(O, "moe_dispatch", inputs,
                [=](const Tensor& gO) { return dispatch_backward(plan, act, sU, needs, params, gO); });
}

Tensor dispatch_reference(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts,
                          const ExpertWeights* shared) {
  std::vector<int64_t> tok, ex;
  check_inputs(U, a, experts, shared, tok, ex);
  auto mlp = [](const Tensor& x, const ExpertWeights& w) {
    return matmul(gelu_tanh(matmul(x, transpose(w.w1, 0, 1)) + w.b1), transpose(w.w2, 0, 1)) + w.b2;
  };
  const int64_t E = int64_t(experts.size());
  Tensor O = zeros(U.shape(), U.dtype(), U.device());
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> rows, picks;
    for (size_t i = 0; i < ex.size(); ++i)
      if (ex[i] == e) {
        rows.push_back(tok[i]);
        picks.push_back(int64_t(i));
      }
    if (rows.empty()) continue;
    const Shape s{int64_t(rows.size())};
    Tensor r = raw::from_vector(rows, s, U.device()), p = raw::from_vector(picks, s, U.device());
    O = index_add(O, 0, r, mlp(index_select(U, 0, r), experts[e]) * unsqueeze(index_select(a.weight, 0, p), 1));
  }
  return shared ? O + mlp(U, *shared) : O;
}

}  // namespace promoe::moe
