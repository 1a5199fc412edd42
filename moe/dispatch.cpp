// The fused expert dispatch op and its composed reference.
#include "moe/dispatch.h"

#include <memory>

#include "moe/routing.h"  // row_sums

namespace promoe::moe {

namespace {

using Grads = std::vector<Tensor>;

void check_inputs(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts,
                  std::vector<int64_t>& tok, std::vector<int64_t>& ex) {
  PROMOE_CHECK(U.defined() && U.dim() == 2, "dispatch: U must be (T, D), got ", U.defined() ? describe(U) : "undefined");
  PROMOE_CHECK(a.token.defined() && a.expert.defined() && a.weight.defined(), "dispatch: incomplete assignments");
  raw::check_index_tensor(a.token, "dispatch (token)");
  raw::check_index_tensor(a.expert, "dispatch (expert)");
  const int64_t A = a.token.numel(), T = U.size(0), D = U.size(1);
  PROMOE_CHECK(a.token.dim() == 1 && a.expert.shape() == Shape{A} && a.weight.shape() == Shape{A},
               "dispatch: token ", describe(a.token), ", expert ", describe(a.expert), " and weight ",
               describe(a.weight), " must all be (A)");
  PROMOE_CHECK(a.weight.dtype() == U.dtype(), "dispatch: weight ", describe(a.weight), " and U ", describe(U),
               " differ in dtype");
  PROMOE_CHECK(!experts.empty(), "dispatch: no experts");
  for (size_t e = 0; e < experts.size(); ++e) {
    const ExpertWeights& w = experts[e];
    PROMOE_CHECK(w.w1.defined() && w.b1.defined() && w.w2.defined() && w.b2.defined(), "dispatch: expert ", e,
                 " has undefined weights");
    const int64_t I = w.w1.dim() == 2 ? w.w1.size(0) : -1;
    PROMOE_CHECK(w.w1.shape() == Shape({I, D}) && w.b1.shape() == Shape{I} && w.w2.shape() == Shape({D, I}) &&
                     w.b2.shape() == Shape{D},
                 "dispatch: expert ", e, " weights ", describe(w.w1), ", ", describe(w.b1), ", ", describe(w.w2),
                 ", ", describe(w.b2), " do not form a (", D, " -> I -> ", D, ") MLP");
    PROMOE_CHECK(w.w1.dtype() == U.dtype(), "dispatch: expert ", e, " dtype ", describe(w.w1), " differs from U ",
                 describe(U));
  }
  tok = a.token.to_vector<int64_t>();
  ex = a.expert.to_vector<int64_t>();
  const int64_t E = int64_t(experts.size());
  for (int64_t i = 0; i < A; ++i) {
    PROMOE_CHECK(tok[i] >= 0 && tok[i] < T, "dispatch: assignment ", i, " names token ", tok[i], " of ", T);
    PROMOE_CHECK(ex[i] >= 0 && ex[i] < E, "dispatch: assignment ", i, " names expert ", ex[i], " of ", E);
  }
}

// Counting sort of the assignments by expert (stable): sorted position p holds assignment
// order[p]; expert e owns positions [offset[e], offset[e + 1]).
struct Plan {
  std::vector<int64_t> offset;
  std::vector<int64_t> order, sorted_token;
};

Plan make_plan(const std::vector<int64_t>& tok, const std::vector<int64_t>& ex, int64_t E) {
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
  return p;
}

// What backward needs of one busy expert's segment.
struct Segment {
  Tensor hpre, h, y;  // (n, I), (n, I), (n, D): pre-activation, GELU output, expert output
};

}  // namespace

Assignments make_assignments(const std::vector<int64_t>& token, const std::vector<int64_t>& expert,
                             const Tensor& weight) {
  PROMOE_CHECK(token.size() == expert.size(), "make_assignments: ", token.size(), " tokens but ", expert.size(),
               " experts");
  const Shape s{int64_t(token.size())};
  return {raw::from_vector(token, s, weight.device()), raw::from_vector(expert, s, weight.device()), weight};
}

Assignments from_slots(const Tensor& idx, const Tensor& w) {
  PROMOE_CHECK(idx.dim() == 2 && w.shape() == idx.shape(), "from_slots: idx ", describe(idx), " and w ",
               describe(w), " must both be (T, K)");
  const int64_t T = idx.size(0), K = idx.size(1);
  std::vector<int64_t> tok(T * K);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) tok[t * K + k] = t;
  return {raw::from_vector(tok, {T * K}, idx.device()), raw::reshape(raw::contiguous(idx), {T * K}),
          reshape(w, {T * K})};
}

Tensor dispatch(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts) {
  std::vector<int64_t> tok, ex;
  check_inputs(U, a, experts, tok, ex);
  const int64_t T = U.size(0), D = U.size(1), A = int64_t(tok.size()), E = int64_t(experts.size());
  const Device dev = U.device();
  Plan plan = make_plan(tok, ex, E);
  Tensor sorted_token = raw::from_vector(plan.sorted_token, {A}, dev);
  Tensor order = raw::from_vector(plan.order, {A}, dev);

  std::vector<Tensor> inputs{U, a.weight};
  for (const ExpertWeights& w : experts) inputs.insert(inputs.end(), {w.w1, w.b1, w.w2, w.b2});
  const bool grad = needs_grad(inputs);

  Tensor X = raw::index_select(U, 0, sorted_token);      // (A, D) rows grouped by expert
  Tensor ws = raw::index_select(a.weight, 0, order);     // (A) weights in the same order
  Tensor O = raw::zeros({T, D}, U.dtype(), dev);
  std::vector<Segment> seg(E);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t at = plan.offset[e], n = plan.offset[e + 1] - at;
    if (n == 0) continue;
    const ExpertWeights& w = experts[e];
    Tensor hpre = raw::matmul(raw::narrow(X, 0, at, n), raw::transpose(w.w1, 0, 1));  // (n, I)
    Tensor h = raw::bias_gelu_(hpre, w.b1);                                             // hpre += b1
    Tensor y = raw::matmul(h, raw::transpose(w.w2, 0, 1));  // (n, D)
    raw::add_(y, w.b2);
    raw::index_add_(O, 0, raw::narrow(sorted_token, 0, at, n),
                    raw::mul(y, raw::unsqueeze(raw::narrow(ws, 0, at, n), 1)));
    if (grad) seg[e] = {hpre, h, y};
  }
  if (!grad) return O;

  std::vector<bool> needs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) needs[i] = inputs[i].defined() && inputs[i].requires_grad();
  std::vector<Tensor> weights_saved;
  for (size_t i = 2; i < inputs.size(); ++i) weights_saved.push_back(inputs[i].detach());
  auto segments = std::make_shared<std::vector<Segment>>(std::move(seg));
  Tensor sX = X.detach(), sws = ws.detach();
  std::vector<int64_t> offset = plan.offset;
  const DType dt = U.dtype();

  return record(O, "moe_dispatch", inputs, [=](const Tensor& gO) {
    Grads grads(needs.size());
    Tensor G = raw::index_select(gO, 0, sorted_token);  // (A, D) upstream rows in sorted order
    Tensor gU = needs[0] ? raw::zeros({T, D}, dt, dev) : Tensor();
    Tensor gws = needs[1] ? raw::zeros({A}, dt, dev) : Tensor();
    for (int64_t e = 0; e < E; ++e) {
      const Tensor &w1 = weights_saved[4 * e], &w2 = weights_saved[4 * e + 2];
      const size_t gi = 2 + 4 * size_t(e);
      const int64_t at = offset[e], n = offset[e + 1] - at;
      if (n == 0) {  // idle expert: defined zero gradients
        for (size_t j = 0; j < 4; ++j)
          if (needs[gi + j]) grads[gi + j] = raw::zeros(weights_saved[4 * e + j].shape(), dt, dev);
        continue;
      }
      const Segment& s = (*segments)[e];
      Tensor ge = raw::narrow(G, 0, at, n);  // (n, D) d loss / d (weighted output)
      if (needs[1]) raw::copy_(raw::narrow(gws, 0, at, n), raw::reshape(row_sums(raw::mul(ge, s.y)), {n}));
      Tensor gy = raw::mul(ge, raw::unsqueeze(raw::narrow(sws, 0, at, n), 1));  // (n, D)
      if (needs[gi + 2]) grads[gi + 2] = raw::matmul(raw::transpose(gy, 0, 1), s.h);  // (D, I)
      if (needs[gi + 3]) grads[gi + 3] = raw::sum(gy, {0});
      Tensor gh = raw::matmul(gy, w2);                                        // (n, I)
      raw::BiasGeluGrads gb = raw::bias_gelu_backward(gh, s.hpre);            // (n, I), (I)
      const Tensor& ghp = gb.pre;
      if (needs[gi + 0]) grads[gi + 0] = raw::matmul(raw::transpose(ghp, 0, 1), raw::narrow(sX, 0, at, n));
      if (needs[gi + 1]) grads[gi + 1] = gb.bias;
      if (needs[0]) raw::index_add_(gU, 0, raw::narrow(sorted_token, 0, at, n), raw::matmul(ghp, w1));
    }
    grads[0] = gU;
    if (needs[1]) {  // back from sorted to assignment order (order is a permutation)
      Tensor gw = raw::zeros({A}, dt, dev);
      raw::index_add_(gw, 0, order, gws);
      grads[1] = gw;
    }
    return grads;
  });
}

Tensor dispatch_reference(const Tensor& U, const Assignments& a, const std::vector<ExpertWeights>& experts) {
  std::vector<int64_t> tok, ex;
  check_inputs(U, a, experts, tok, ex);
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
    const ExpertWeights& w = experts[e];
    Tensor h = gelu_tanh(matmul(index_select(U, 0, r), transpose(w.w1, 0, 1)) + w.b1);
    Tensor y = matmul(h, transpose(w.w2, 0, 1)) + w.b2;
    O = index_add(O, 0, r, y * unsqueeze(index_select(a.weight, 0, p), 1));
  }
  return O;
}

}  // namespace promoe::moe
