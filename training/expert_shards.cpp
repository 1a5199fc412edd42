// Gathering the experts of every rank into one checkpoint.
#include "training/expert_shards.h"

#include <unordered_map>

#include "tensor/ops.h"
#include "training/checkpoint.h"

namespace promoe::training {

io::NamedTensors gather_expert_shards(const io::NamedTensors& local, const std::vector<moe::ShardedParameter>& sharded,
                                      dist::Communicator& comm) {
  // The file keys of the rank-local parameters.
  std::unordered_map<std::string, const moe::ShardedParameter*> owner_of;
  for (const moe::ShardedParameter& p : sharded)
    for (const std::string& key : checkpoint_keys(p.name)) owner_of.emplace(key, &p);

  // Every rank lists its tensors in the same order, its experts' entries in runs (one per MoE
  // block) where the other ranks list theirs: pack those runs into one flat buffer and gather it.
  std::vector<Tensor> parts;
  int64_t total = 0;
  for (const auto& [key, t] : local)
    if (owner_of.count(key)) {
      PROMOE_CHECK(t.dtype() == DType::F32, "expert parallel: checkpoint tensor ", key, " is ", dtype_name(t.dtype()),
                   ", not f32");
      parts.push_back(raw::reshape(raw::contiguous(raw::to(t, Device::cpu())), {t.numel()}));
      total += t.numel();
    }
  const Tensor all = comm.all_gather(parts.empty() ? raw::zeros({0}) : raw::cat(parts, 0));  // (ranks * total)

  io::NamedTensors out;
  size_t i = 0;
  int64_t offset = 0;  // of the current run in this rank's flat buffer
  while (i < local.size()) {
    auto it = owner_of.find(local[i].first);
    if (it == owner_of.end()) {
      out.push_back(local[i++]);
      continue;
    }
    size_t end = i;  // the run of this block's expert entries
    int64_t run = 0;
    for (; end < local.size(); ++end) {
      auto e = owner_of.find(local[end].first);
      if (e == owner_of.end() || e->second->block != it->second->block) break;
      run += local[end].second.numel();
    }
    for (int r = 0; r < comm.size(); ++r) {
      int64_t at = int64_t(r) * total + offset;
      for (size_t j = i; j < end; ++j) {
        const moe::ShardedParameter& p = *owner_of.at(local[j].first);
        const int64_t expert = p.expert + int64_t(r - comm.rank()) * p.per_rank;  // the same slot on rank r
        const Tensor& t = local[j].second;
        out.emplace_back(moe::with_expert_index(local[j].first, p.expert, expert),
                         raw::reshape(raw::narrow(all, 0, at, t.numel()), t.shape()));
        at += t.numel();
      }
    }
    offset += run;
    i = end;
  }
  return out;
}

}  // namespace promoe::training
