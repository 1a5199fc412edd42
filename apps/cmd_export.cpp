// `promoe export`: a checkpoint's EMA (or model) weights as a safetensors state dict under the
// official names, pos_embed included, which the official PyTorch model loads with
// load_state_dict(strict=True) (docs/CHECKPOINTS.md).
#include <cstdio>

#include "apps/commands.h"
#include "training/checkpoint_import.h"

namespace promoe::apps {

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a checkpoint's weights as an official-name safetensors state dict");
  auto ckpt = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto weights = std::make_shared<std::string>("ema");
  cmd->add_option("checkpoint", *ckpt, "A promoe checkpoint")->required();
  cmd->add_option("--out", *out, "The state dict to write (.safetensors)")->required();
  cmd->add_option("--weights", *weights, "ema or model")->capture_default_str()->check(CLI::IsMember({"ema", "model"}));
  cmd->callback([ckpt, out, weights] {
    make_parent_directory(*out);
    const training::ExportSummary s = training::export_weights(*ckpt, *out, *weights);
    std::printf("wrote %s (%zu tensors: the %s weights of %s, step %lld)\n", out->c_str(), s.tensors, weights->c_str(),
                ckpt->c_str(), (long long)s.step);
  });
}

}  // namespace promoe::apps
