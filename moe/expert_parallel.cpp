// Expert parallelism: sharding the banks, the token exchange and the sharded expert run.
#include "moe/expert_parallel.h"

#include <numeric>
#include <unordered_map>

#include "autograd/ops.h"
#include "moe/expert_choice.h"
#include "moe/promoe_layer.h"
#include "moe/token_choice.h"

namespace promoe::moe {

namespace {

// The expert bank of a MoE feed-forward and how many of its experts are routed (ProMoE's
// unconditional expert, bank index E, is not); null for a dense one.
ExpertList* bank_of(nn::FeedForward& ffn, int64_t& routed) {
  if (auto* p = dynamic_cast<ProMoELayer*>(&ffn)) {
    routed = p->cfg.num_experts;
    return p->experts.get();
  }
  if (auto* t = dynamic_cast<TokenChoiceMoE*>(&ffn)) {
    routed = t->cfg.num_experts;
    return t->experts.get();
  }
  if (auto* e = dynamic_cast<ExpertChoiceMoE*>(&ffn)) {
    routed = e->cfg.num_experts;
    return e->experts.get();
  }
  return nullptr;
}

std::vector<int64_t> host_indices(const Tensor& t, const std::vector<int64_t>& host) {
  return host.size() == size_t(t.numel()) ? host : t.to_vector<int64_t>();
}

}  // namespace

Tensor exchange_rows(const Tensor& x, const std::vector<int64_t>& send_counts, std::vector<int64_t>& recv_counts,
                     const std::shared_ptr<dist::Communicator>& comm) {
  Tensor y = comm->all_to_all(raw::contiguous(x), send_counts, &recv_counts);
  const std::vector<int64_t> back = recv_counts;
  return record(y, "expert_exchange", {x}, [comm, back](const Tensor& g) {
    return std::vector<Tensor>{comm->all_to_all(raw::contiguous(g), back, nullptr)};
  });
}

Tensor run_experts_sharded(const Tensor& U, const Assignments& a, const ExpertList& bank,
                           const std::shared_ptr<nn::Mlp>& shared) {
  const ExpertPlacement& where = *bank.placement;
  const int ranks = where.comm->size();
  const size_t rank_count = static_cast<size_t>(ranks);
  const int64_t T = U.size(0), D = U.size(1);
  const std::vector<int64_t> tok = host_indices(a.token, a.token_host), ex = host_indices(a.expert, a.expert_host);
  PROMOE_CHECK(tok.size() == ex.size() && int64_t(tok.size()) == a.weight.numel(),
               "run_experts: assignments of different lengths");

  // The held experts: the routed ones of this rank (local index = bank index - first) and the
  // replicated ones (local index = bank index - routed).
  std::vector<ExpertWeights> routed_here, replicated;
  for (size_t i = 0; i < bank.mlps.size(); ++i)
    (bank.ids[i] < where.routed ? routed_here : replicated).push_back(weights_of(*bank.mlps[i]));

  // Assignments by destination: replicated experts stay, routed ones go to their owner's rank.
  std::vector<int64_t> stay, stay_expert;
  std::vector<std::vector<int64_t>> to_rank(rank_count);
  const int64_t bank_size = where.routed + int64_t(replicated.size());
  for (size_t i = 0; i < ex.size(); ++i) {
    PROMOE_CHECK(ex[i] >= 0 && ex[i] < bank_size, "run_experts: assignment ", i, " names expert ", ex[i], " of ",
                 bank_size);
    PROMOE_CHECK(tok[i] >= 0 && tok[i] < T, "run_experts: assignment ", i, " names token ", tok[i], " of ", T);
    if (ex[i] >= where.routed) {
      stay.push_back(int64_t(i));
      stay_expert.push_back(ex[i] - where.routed);
    } else {
      to_rank[size_t(where.owner(ex[i]))].push_back(int64_t(i));
    }
  }
  auto indices = [&](const std::vector<int64_t>& v) { return raw::from_vector(v, {int64_t(v.size())}, U.device()); };

  // On this rank: the replicated experts' assignments and the shared expert over every token.
  Tensor O;
  if (!stay.empty()) {
    std::vector<int64_t> stay_token;
    for (int64_t i : stay) stay_token.push_back(tok[size_t(i)]);
    Tensor w = index_select(a.weight, 0, indices(stay));
    const ExpertWeights s = shared ? weights_of(*shared) : ExpertWeights{};
    O = dispatch(U, make_assignments(stay_token, stay_expert, w), replicated, shared ? &s : nullptr);
  } else if (shared) {
    O = shared->forward(U);
  }

  // Routed: rows out to their experts' ranks, through the experts there, and back.
  std::vector<int64_t> order, send_counts(rank_count), sent_token, sent_expert;
  for (int r = 0; r < ranks; ++r) {
    send_counts[size_t(r)] = int64_t(to_rank[size_t(r)].size());
    for (int64_t i : to_rank[size_t(r)]) {
      order.push_back(i);
      sent_token.push_back(tok[size_t(i)]);
      sent_expert.push_back(ex[size_t(i)] - int64_t(r) * where.per_rank);  // the owner's local index
    }
  }
  const Tensor sent_rows = indices(sent_token);
  std::vector<int64_t> recv_counts;
  Tensor X = exchange_rows(index_select(U, 0, sent_rows), send_counts, recv_counts, where.comm);
  const std::vector<int64_t> got_expert =
      where.comm->all_to_all(indices(sent_expert), send_counts, nullptr).to_vector<int64_t>();
  const int64_t got = int64_t(got_expert.size());
  std::vector<int64_t> own_rows(got_expert.size());
  std::iota(own_rows.begin(), own_rows.end(), int64_t(0));
  Tensor Y = dispatch(X, make_assignments(own_rows, got_expert, raw::ones({got}, U.dtype(), U.device())), routed_here);
  std::vector<int64_t> back_counts;
  Tensor back = exchange_rows(Y, recv_counts, back_counts, where.comm);  // (sent rows, D), in sending order
  const int me = where.comm->rank();
  const int64_t row_bytes = D * int64_t(dtype_size(U.dtype())) + int64_t(sizeof(int64_t));  // a row, its expert id
  where.bytes_sent += (int64_t(order.size()) - send_counts[size_t(me)]) * row_bytes +
                      (got - recv_counts[size_t(me)]) * (row_bytes - int64_t(sizeof(int64_t)));
  Tensor w = index_select(a.weight, 0, indices(order));
  Tensor routed = index_add(zeros({T, D}, U.dtype(), U.device()), 0, sent_rows, back * unsqueeze(w, 1));
  return O.defined() ? O + routed : routed;
}

void shard_experts(nn::DiT& model, const std::shared_ptr<dist::Communicator>& comm) {
  const int ranks = comm->size();
  for (size_t b = 0; b < model.blocks.size(); ++b) {
    int64_t routed = 0;
    ExpertList* bank = bank_of(*model.blocks[b]->mlp, routed);
    if (!bank) continue;
    PROMOE_CHECK(routed % ranks == 0, "expert parallel: the ", routed, " routed experts of block ", b,
                 " do not divide among ", ranks, " ranks");
    auto where = std::make_shared<ExpertPlacement>();
    where->comm = comm;
    where->routed = routed;
    where->per_rank = routed / ranks;
    bank->shard(where);
  }
}

std::vector<ShardedParameter> sharded_parameters(const nn::DiT& model) {
  std::unordered_map<const TensorImpl*, std::string> names;
  for (const auto& [name, t] : model.named_parameters()) names.emplace(t.impl_ptr().get(), name);
  std::vector<ShardedParameter> out;
  for (size_t b = 0; b < model.blocks.size(); ++b) {
    int64_t routed = 0;
    const ExpertList* bank = bank_of(*model.blocks[b]->mlp, routed);
    if (!bank || !bank->placement) continue;
    for (size_t i = 0; i < bank->mlps.size(); ++i) {
      if (bank->ids[i] >= routed) continue;  // replicated
      for (const auto& [n, t] : bank->mlps[i]->named_parameters())
        out.push_back({names.at(t.impl_ptr().get()), t, int64_t(b), bank->ids[i], bank->placement->per_rank});
    }
  }
  return out;
}

int64_t expert_exchange_bytes(const nn::DiT& model) {
  int64_t bytes = 0;
  for (const auto& block : model.blocks) {
    int64_t routed = 0;
    const ExpertList* bank = bank_of(*block->mlp, routed);
    if (bank && bank->placement) bytes += bank->placement->bytes_sent;
  }
  return bytes;
}

std::string with_expert_index(const std::string& key, int64_t from, int64_t to) {
  const std::string old = ".experts." + std::to_string(from) + ".";
  const size_t at = key.find(old);
  PROMOE_CHECK(at != std::string::npos, "expert parallel: '", key, "' is not a parameter of expert ", from);
  return key.substr(0, at) + ".experts." + std::to_string(to) + "." + key.substr(at + old.size());
}

}  // namespace promoe::moe
