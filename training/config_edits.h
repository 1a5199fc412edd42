// Model variants without new presets: a preset's configuration (docs/CASES.md `config`) edited by
// a JSON file and by `key=value` settings with dotted field names, e.g.
//   --config tiny_wide.json --set moe.rcl_lambda=0 --set moe.use_uncond_expert=false
// The file is applied first (its keys merge into the preset's), then each setting in order.
#pragma once
#include <string>
#include <vector>

#include "training/model_spec.h"

namespace promoe::training {

struct ConfigEdits {
  std::string config_file;        // a JSON object of config fields; "" for none
  std::vector<std::string> sets;  // "key=value"; the value is JSON (1, 0.5, false, null) or a bare string
  bool empty() const { return config_file.empty() && sets.empty(); }
};

// The preset's configuration with the edits applied, validated. Throws promoe::Error naming the
// key for an unknown key (listing the valid ones), a value of the wrong type, or a value the model
// refuses. `moe=null` makes the model dense; a `moe.*` key on a dense preset starts from the
// default MoE configuration of the type chosen (moe/config.h).
ModelSpec edited_spec(const std::string& preset, const ConfigEdits& edits);

// The edits as recorded in a run's options: {"config": file, "set": [...]}.
std::string describe(const ConfigEdits& edits);

}  // namespace promoe::training
