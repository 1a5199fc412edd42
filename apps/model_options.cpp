// --config and --set.
#include "apps/model_options.h"

namespace promoe::apps {

void add_config_edit_options(CLI::App* cmd, training::ConfigEdits& edits) {
  cmd->add_option("--config", edits.config_file,
                  "JSON file of model config fields merged into the preset's (the case format's `config`)")
      ->check(CLI::ExistingFile);
  cmd->add_option(
         "--set", edits.sets,
         "Edit one config field, dotted (repeatable): --set moe.rcl_lambda=0 --set moe.use_uncond_expert=false")
      ->expected(1)
      ->take_all();  // one key=value per --set, every occurrence kept in order
}

}  // namespace promoe::apps
