// The options that pick a model: --preset, then --config FILE.json and repeatable --set key=value
// edits of its configuration (training/config_edits.h), shared by train, info and bench.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "training/config_edits.h"

namespace promoe::apps {

// Registers --config and --set on `cmd`, filling `edits`.
void add_config_edit_options(CLI::App* cmd, training::ConfigEdits& edits);

}  // namespace promoe::apps
