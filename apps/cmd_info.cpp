// `promoe info`: a preset's configuration and its total and activated parameter counts.
#include <cstdio>

#include "apps/commands.h"
#include "moe/model.h"
#include "training/model_spec.h"

namespace promoe::apps {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print a preset's configuration and parameter counts");
  auto preset = std::make_shared<std::string>("ProMoE-Tiny");
  auto list = std::make_shared<bool>(false);
  cmd->add_option("--preset", *preset, "Model preset")->capture_default_str();
  cmd->add_flag("--list", *list, "List the presets");
  cmd->callback([preset, list] {
    if (*list) {
      for (const std::string& n : moe::preset_names()) std::printf("%s\n", n.c_str());
      return;
    }
    training::ModelSpec spec = training::ModelSpec::preset(*preset);
    auto model = spec.build(0);
    std::printf("preset %s\nconfig %s\n", preset->c_str(), spec.to_json().c_str());
    // The total counts pos_embed, as the official code's count does.
    const int64_t total = model->num_parameters() + model->pos_embed.numel();
    std::printf("parameters: total %.2fM, activated %.2fM (%lld, %lld)\n", double(total) / 1e6,
                double(model->activated_parameters()) / 1e6, (long long)total,
                (long long)model->activated_parameters());
  });
}

}  // namespace promoe::apps
