// Routing contrastive and load-balance losses.
#include "moe/routing_losses.h"

namespace promoe::moe {

namespace {

std::vector<int64_t> group_counts(const Tensor& U, const std::vector<int64_t>& rows, const std::vector<int64_t>& group,
                                  int64_t G) {
  PROMOE_CHECK(U.dim() == 2, "group_means: U must be (T, D), got ", describe(U));
  PROMOE_CHECK(rows.size() == group.size(), "group_means: ", rows.size(), " rows but ", group.size(), " groups");
  std::vector<int64_t> count(G, 0);
  for (size_t m = 0; m < rows.size(); ++m) {
    PROMOE_CHECK(rows[m] >= 0 && rows[m] < U.size(0), "group_means: row ", rows[m], " out of range for ", U.size(0),
                 " rows");
    PROMOE_CHECK(group[m] >= 0 && group[m] < G, "group_means: group ", group[m], " out of range for ", G, " groups");
    ++count[group[m]];
  }
  for (int64_t g = 0; g < G; ++g) PROMOE_CHECK(count[g] > 0, "group_means: group ", g, " has no member");
  return count;
}

Tensor inverse_counts(const std::vector<int64_t>& count, const Tensor& like) {
  std::vector<double> inv(count.size());
  for (size_t g = 0; g < count.size(); ++g) inv[g] = 1.0 / double(count[g]);
  return raw::to(raw::from_vector(inv, {int64_t(inv.size()), 1}, like.device()), like.dtype());
}

}  // namespace

// Two formulations of the same op. Small problems (the token-choice RCL: a few groups) multiply U by
// the dense (G, T) averaging matrix: one GEMM forward and one backward, no gathers, zero fills or
// scatter-adds (docs/PERF.md has what it saved). Large ones (the
// per-image groups of expert choice at large batch, where the matrix would not fit) gather the
// member rows and scatter their sums.
Tensor group_means(const Tensor& U, const std::vector<int64_t>& rows, const std::vector<int64_t>& group,
                   int64_t num_groups, int64_t dense_limit) {
  std::vector<int64_t> count = group_counts(U, rows, group, num_groups);
  const int64_t T = U.size(0);
  if (num_groups * T <= dense_limit) {
    std::vector<double> avg(size_t(num_groups * T), 0.0);
    for (size_t m = 0; m < rows.size(); ++m) avg[size_t(group[m] * T + rows[m])] += 1.0 / double(count[group[m]]);
    return matmul(raw::to(raw::from_vector(avg, {num_groups, T}, U.device()), U.dtype()), U);
  }
  const Shape s{int64_t(rows.size())};
  Tensor r = raw::from_vector(rows, s, U.device()), g = raw::from_vector(group, s, U.device());
  Tensor inv = inverse_counts(count, U);  // (G, 1)
  Tensor sums = raw::zeros({num_groups, U.size(1)}, U.dtype(), U.device());
  raw::index_add_(sums, 0, g, raw::index_select(U, 0, r));
  Tensor out = raw::mul(sums, inv);
  Shape in = U.shape();
  return record(out, "group_means", {U}, [=](const Tensor& gout) {
    Tensor gU = raw::zeros(in, gout.dtype(), gout.device());
    raw::index_add_(gU, 0, r, raw::index_select(raw::mul(gout, inv), 0, g));
    return std::vector<Tensor>{gU};
  });
}

Tensor group_means_reference(const Tensor& U, const std::vector<int64_t>& rows, const std::vector<int64_t>& group,
                             int64_t num_groups) {
  std::vector<int64_t> count = group_counts(U, rows, group, num_groups);
  const Shape s{int64_t(rows.size())};
  Tensor r = raw::from_vector(rows, s, U.device()), g = raw::from_vector(group, s, U.device());
  Tensor sums = index_add(zeros({num_groups, U.size(1)}, U.dtype(), U.device()), 0, g, index_select(U, 0, r));
  std::vector<double> c(count.begin(), count.end());
  return sums / to(from_vector(c, {num_groups, 1}, U.device()), U.dtype());
}

Tensor contrastive_loss(const Tensor& protos, const Tensor& means, double tau) {
  PROMOE_CHECK(protos.dim() == 2 && (means.dim() == 2 || means.dim() == 3) && means.size(-2) == protos.size(0) &&
                   means.size(-1) == protos.size(1),
               "contrastive_loss: prototypes ", describe(protos), " and centroids ", describe(means),
               " must be (R, D) and ([B,] R, D)");
  const int64_t R = protos.size(0);
  Tensor p = normalize(protos, 1, 1e-12);
  Tensor m = normalize(means, -1, 1e-12);
  // logits[.., i, j] = cos(P_i, M_j) / tau
  Tensor logits = matmul(p, transpose(m, -1, -2)) * (1.0 / tau);  // (R, R) or (B, R, R)
  logits = reshape(logits, {-1, R});
  const int64_t rows = logits.size(0);
  std::vector<int64_t> target(rows);
  for (int64_t i = 0; i < rows; ++i) target[i] = i % R;
  return cross_entropy(logits, raw::from_vector(target, {rows}, logits.device()));
}

Tensor token_choice_rcl(const Tensor& U, const Tensor& P, const std::vector<int64_t>& member_rows,
                        const std::vector<int64_t>& member_experts, double tau) {
  PROMOE_CHECK(member_rows.size() == member_experts.size(), "token_choice_rcl: ", member_rows.size(), " rows but ",
               member_experts.size(), " experts");
  const int64_t E = P.size(0);
  std::vector<int64_t> slot(E, -1);  // expert -> position among the valid experts
  for (int64_t e : member_experts) {
    PROMOE_CHECK(e >= 0 && e < E, "token_choice_rcl: expert ", e, " out of range for ", E, " prototypes");
    slot[e] = 0;
  }
  std::vector<int64_t> valid;
  for (int64_t e = 0; e < E; ++e)
    if (slot[e] == 0) {
      slot[e] = int64_t(valid.size());
      valid.push_back(e);
    }
  const int64_t Na = int64_t(valid.size());
  if (Na < 2) return raw::scalar(0.0, U.dtype(), U.device());  // a constant: no gradient (§2.6 step 4)
  std::vector<int64_t> group(member_experts.size());
  for (size_t m = 0; m < group.size(); ++m) group[m] = slot[member_experts[m]];
  Tensor means = group_means(U, member_rows, group, Na);
  Tensor pv = Na == E ? P : index_select(P, 0, raw::from_vector(valid, {Na}, P.device()));
  return contrastive_loss(pv, means, tau);
}

Tensor load_balance_loss(const Tensor& probs, const std::vector<int64_t>& assigned) {
  PROMOE_CHECK(probs.dim() == 2 && probs.size(0) > 0, "load_balance_loss: probs must be (n, E) with n > 0, got ",
               describe(probs));
  const int64_t E = probs.size(1);
  std::vector<double> f(E, 0.0);
  for (int64_t e : assigned) {
    PROMOE_CHECK(e >= 0 && e < E, "load_balance_loss: expert ", e, " out of range for ", E);
    f[e] += 1.0;
  }
  for (double& v : f) v *= double(E) / double(assigned.size());
  Tensor ft = raw::to(raw::from_vector(f, {E}, probs.device()), probs.dtype());
  return sum(mean(probs, {0}) * ft);
}

Tensor sum_over_replicas(const Tensor& x, nn::ReplicaSum& ranks) {
  Tensor out = ranks.sum(raw::contiguous(x.detach()));
  const double n = double(ranks.replicas());
  return record(out, "sum_over_replicas", {x}, [n](const Tensor& g) { return std::vector<Tensor>{g * n}; });
}

namespace {
// Per-expert counts summed over the ranks.
std::vector<int64_t> global_counts(const std::vector<int64_t>& experts, int64_t E, nn::ReplicaSum& ranks,
                                   const char* what) {
  std::vector<int64_t> c(E, 0);
  for (int64_t e : experts) {
    PROMOE_CHECK(e >= 0 && e < E, what, ": expert ", e, " out of range for ", E);
    ++c[e];
  }
  return ranks.sum(raw::from_vector(c, {E})).to_vector<int64_t>();
}
}  // namespace

Tensor token_choice_rcl_global(const Tensor& U, const Tensor& P, const std::vector<int64_t>& member_rows,
                               const std::vector<int64_t>& member_experts, double tau, nn::ReplicaSum& ranks) {
  PROMOE_CHECK(member_rows.size() == member_experts.size(), "token_choice_rcl: ", member_rows.size(), " rows but ",
               member_experts.size(), " experts");
  const int64_t E = P.size(0), T = U.size(0), D = U.size(1);
  const std::vector<int64_t> counts = global_counts(member_experts, E, ranks, "token_choice_rcl");
  std::vector<int64_t> slot(E, -1), valid;
  for (int64_t e = 0; e < E; ++e)
    if (counts[e] > 0) {
      slot[e] = int64_t(valid.size());
      valid.push_back(e);
    }
  const int64_t Na = int64_t(valid.size());
  if (Na < 2) return raw::scalar(0.0, U.dtype(), U.device());  // on every rank alike: a constant (§2.6 step 4)
  // The local member sums (Na, D) as one product with the (Na, T) membership matrix.
  std::vector<double> a(size_t(Na * T), 0.0);
  for (size_t m = 0; m < member_rows.size(); ++m) a[size_t(slot[member_experts[m]] * T + member_rows[m])] += 1.0;
  Tensor A = raw::to(raw::from_vector(a, {Na, T}, U.device()), U.dtype());
  Tensor sums = member_rows.empty() ? raw::zeros({Na, D}, U.dtype(), U.device()) : matmul(A, U);
  std::vector<double> inv(Na);
  for (int64_t v = 0; v < Na; ++v) inv[v] = 1.0 / double(counts[valid[v]]);
  Tensor means = sum_over_replicas(sums, ranks) * raw::to(raw::from_vector(inv, {Na, 1}, U.device()), U.dtype());
  Tensor pv = Na == E ? P : index_select(P, 0, raw::from_vector(valid, {Na}, P.device()));
  return contrastive_loss(pv, means, tau);
}

Tensor expert_choice_rcl_global(const Tensor& P, const Tensor& means, int64_t cond_images, double tau,
                                nn::ReplicaSum& ranks, DType dtype, Device device) {
  PROMOE_CHECK(cond_images == 0 || (means.defined() && means.dim() == 3 && means.size(0) == cond_images),
               "expert_choice_rcl: centroids ", means.defined() ? describe(means) : "undefined", " for ", cond_images,
               " conditional images");
  const int64_t total = ranks.sum(raw::from_vector(std::vector<int64_t>{cond_images}, {1})).to_vector<int64_t>()[0];
  // This rank's sum of per-image losses (each image's mean over its E rows), summed over the ranks.
  Tensor local =
      cond_images > 0 ? contrastive_loss(P, means, tau) * double(cond_images) : raw::scalar(0.0, dtype, device);
  Tensor all = sum_over_replicas(local, ranks);
  return total > 0 ? all * (1.0 / double(total)) : raw::scalar(0.0, dtype, device);
}

Tensor load_balance_loss_global(const Tensor& probs, const std::vector<int64_t>& assigned, int64_t E,
                                nn::ReplicaSum& ranks, DType dtype, Device device) {
  PROMOE_CHECK(!probs.defined() || (probs.dim() == 2 && probs.size(1) == E), "load_balance_loss: probs must be (n, ", E,
               "), got ", describe(probs));
  const std::vector<int64_t> counts = global_counts(assigned, E, ranks, "load_balance_loss");
  const int64_t rows = ranks.sum(raw::from_vector(std::vector<int64_t>{probs.defined() ? probs.size(0) : 0}, {1}))
                           .to_vector<int64_t>()[0];
  int64_t slots = 0;
  for (int64_t c : counts) slots += c;
  if (rows == 0 || slots == 0) return raw::scalar(0.0, dtype, device);
  std::vector<double> f(E);  // f_i = E * (slots assigned to i) / slots, divided by the rows of the mean
  for (int64_t e = 0; e < E; ++e) f[e] = double(E) * double(counts[e]) / double(slots) / double(rows);
  Tensor local = probs.defined() && probs.size(0) > 0 ? sum(probs, {0}) : raw::zeros({E}, dtype, device);
  return sum(sum_over_replicas(local, ranks) * raw::to(raw::from_vector(f, {E}, device), dtype));
}

}  // namespace promoe::moe
