// The state_dict of the official PyTorch model (ali-vilab/ProMoE, models_*.py) for a model
// configuration, from shapes alone (nothing is allocated, so an XL layout costs nothing): every
// tensor's name and shape in the order of the model's parameters(), which is the order in which
// torch.optim numbers them in an optimizer state_dict. That order is PyTorch's: a module's own
// parameters, then its children in registration order. It differs from promoe's own module order
// in three places: pos_embed is a parameter there (requires_grad=False, first, as the root
// module's own), the final layer registers `linear` before `adaLN_modulation`, and the TC-DiT
// baseline's MoE block its `experts` before its `gate`. The names are the same as promoe's.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "training/model_spec.h"

namespace promoe::training {

struct OfficialTensor {
  std::string name;  // e.g. "blocks.1.mlp.experts.0.up_proj.weight"
  Shape shape;
  bool fixed = false;  // pos_embed: the fixed sin-cos table, never trained (a buffer in promoe)
};

std::vector<OfficialTensor> official_state_dict(const ModelSpec& spec);

// The presets whose official state_dict has exactly these names and shapes (a preset's shapes
// identify it up to presets of equal shapes, such as ProMoE-L and ProMoE-EC-L).
std::vector<std::string> presets_with_shapes(const std::map<std::string, Shape>& shapes);

}  // namespace promoe::training
