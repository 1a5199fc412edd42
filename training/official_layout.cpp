// Official state_dict layouts from a model configuration (see official_layout.h).
#include "training/official_layout.h"

namespace promoe::training {

namespace {

constexpr int64_t kFrequencyDim = 256;  // TimestepEmbedder's frequency_embedding_size

struct Layout {
  std::vector<OfficialTensor> tensors;
  void add(const std::string& name, Shape shape) { tensors.push_back({name, std::move(shape), false}); }
  void linear(const std::string& prefix, int64_t in, int64_t out) {
    add(prefix + ".weight", {out, in});
    add(prefix + ".bias", {out});
  }
  void mlp(const std::string& prefix, const char* first, const char* second, int64_t dim, int64_t hidden) {
    linear(prefix + "." + first, dim, hidden);
    linear(prefix + "." + second, hidden, dim);
  }
};

void moe_layer(Layout& l, const std::string& p, const moe::MoeConfig& m, int64_t D) {
  using moe::MoeType;
  const int64_t E = m.num_experts;
  auto experts = [&](const char* first, const char* second) {
    for (int64_t e = 0; e < m.num_expert_mlps(); ++e)
      l.mlp(p + ".experts." + std::to_string(e), first, second, D, m.moe_intermediate_size);
  };
  switch (m.type) {
    case MoeType::ProMoeTC:
    case MoeType::ProMoeEC:  // SparseMoeBlock: cluster_centers, experts (E routed + uncond), shared_expert
      l.add(p + ".cluster_centers", {E, D});
      experts("up_proj", "down_proj");
      break;
    case MoeType::TC:  // models_TCDiT.py SparseMoEBlock: experts, then gate (MoEGate.weight)
      experts("fc1", "fc2");
      l.add(p + ".gate.weight", {E, D});
      break;
    case MoeType::EC:  // models_ECDiT.py: the gate is the block's own parameter, so it comes first
      l.add(p + ".gate_weight", {E, D});
      experts("fc1", "fc2");
      break;
  }
  if (m.use_shared_expert) l.mlp(p + ".shared_expert", "up_proj", "down_proj", D, m.shared_expert_intermediate_size);
}

}  // namespace

std::vector<OfficialTensor> official_state_dict(const ModelSpec& spec) {
  const nn::DiTConfig& c = spec.dit;
  const int64_t D = c.hidden_size, p = c.patch_size;
  Layout l;
  l.tensors.push_back({"pos_embed", {1, c.tokens(), D}, true});
  l.add("x_embedder.proj.weight", {D, c.in_channels, p, p});
  l.add("x_embedder.proj.bias", {D});
  l.linear("t_embedder.mlp.0", kFrequencyDim, D);
  l.linear("t_embedder.mlp.2", D, D);
  l.add("y_embedder.embedding_table.weight", {c.num_classes + 1, D});
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i);
    l.linear(b + ".attn.qkv", D, 3 * D);
    l.linear(b + ".attn.proj", D, D);
    if (spec.moe && spec.moe->block_is_moe(i))
      moe_layer(l, b + ".mlp", *spec.moe, D);
    else
      l.mlp(b + ".mlp", "fc1", "fc2", D, int64_t(double(D) * c.mlp_ratio));
    l.linear(b + ".adaLN_modulation.1", D, 6 * D);
  }
  l.linear("final_layer.linear", D, p * p * c.out_channels());
  l.linear("final_layer.adaLN_modulation.1", D, 2 * D);
  return l.tensors;
}

std::vector<std::string> presets_with_shapes(const std::map<std::string, Shape>& shapes) {
  std::vector<std::string> out;
  for (const std::string& name : moe::preset_names()) {
    const std::vector<OfficialTensor> layout = official_state_dict(ModelSpec::preset(name));
    bool same = layout.size() == shapes.size();
    for (size_t i = 0; same && i < layout.size(); ++i) {
      auto it = shapes.find(layout[i].name);
      same = it != shapes.end() && it->second == layout[i].shape;
    }
    if (same) out.push_back(name);
  }
  return out;
}

}  // namespace promoe::training
