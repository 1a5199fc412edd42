// `promoe import`: a PyTorch checkpoint or state dict (the official train.py's ckpt_step_N.pth, a
// torch.save state dict, a safetensors state dict under the official names) to a promoe
// checkpoint that `promoe sample` reads and `promoe train --resume` continues
// (training/checkpoint_import.h, docs/CHECKPOINTS.md).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "apps/commands.h"
#include "apps/option_range.h"
#include "training/checkpoint_import.h"

namespace promoe::apps {

namespace {

// --config: a JSON model configuration, inline ("{...}") or in a file.
training::ModelSpec spec_from_config(const std::string& config) {
  if (!config.empty() && config.front() == '{') return training::ModelSpec::from_json(config);
  std::ifstream in(config);
  PROMOE_CHECK(in, "import: --config ", config, " is neither inline JSON nor a readable file");
  std::stringstream text;
  text << in.rdbuf();
  return training::ModelSpec::from_json(text.str());
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import a PyTorch checkpoint or state dict as a promoe checkpoint");
  auto o = std::make_shared<training::ImportOptions>();
  auto preset = std::make_shared<std::string>();
  auto config = std::make_shared<std::string>();
  cmd->add_option("file", o->source, ".pth (torch.save) or .safetensors state dict")->required();
  cmd->add_option("--out", o->out, "The promoe checkpoint to write (.safetensors)")->required();
  auto* p = cmd->add_option("--preset", *preset, "The model preset (default: the one the file's shapes identify)");
  cmd->add_option("--config", *config, "A model configuration (JSON, inline or a file) instead of a preset")
      ->excludes(p);
  ranged(cmd->add_option("--seed", o->seed, "The --seed of the training run that will resume from it"), uint64_t(0),
         std::numeric_limits<uint64_t>::max())
      ->capture_default_str();
  cmd->callback([o, preset, config] {
    if (!preset->empty()) {
      o->spec = training::ModelSpec::preset(*preset);
      o->spec_name = "preset " + *preset;
    } else if (!config->empty()) {
      o->spec = spec_from_config(*config);
      o->spec_name = "the --config model";
    }
    make_parent_directory(o->out);
    const training::ImportSummary s = training::import_checkpoint(*o);
    std::string shapes = "match no preset";
    if (!s.matching_presets.empty()) {
      shapes = "match preset";
      for (size_t i = 0; i < s.matching_presets.size(); ++i)
        shapes += std::string(i ? ", " : (s.matching_presets.size() > 1 ? "s " : " ")) + s.matching_presets[i];
    }
    std::printf("imported %s (%s%s; its shapes %s) as %s: step %lld, AdamW step %lld, EMA %s, moments %s\n",
                o->source.c_str(), s.kind.c_str(),
                s.stripped_prefix.empty() ? "" : (", names without '" + s.stripped_prefix + "'").c_str(),
                shapes.c_str(), s.spec_name.c_str(), (long long)s.step, (long long)s.adam_step,
                s.ema_from_file ? "from the file" : "= the weights", s.moments_from_file ? "from the file" : "zero");
    std::printf("wrote %s (%zu tensors)\n", o->out.c_str(), s.tensors);
  });
}

}  // namespace promoe::apps
