// `promoe check`: runs parity case files (docs/CASES.md) and reports the worst error per tensor group.
#include <cstdio>

#include "apps/commands.h"
#include "parity/case_check.h"
#include "tensor/error.h"

namespace promoe::apps {

void add_check_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Run parity case files; exits non-zero when a tolerance is exceeded");
  auto files = std::make_shared<std::vector<std::string>>();
  auto device = std::make_shared<std::string>("cpu");
  auto threads = std::make_shared<int>(2);
  cmd->add_option("cases", *files, "Case files (.safetensors)")->required();
  cmd->add_option("--device", *device, "cpu or cuda")->capture_default_str();
  add_threads_option(cmd, *threads);
  cmd->callback([files, device, threads] {
    set_threads(*threads);
    int failed = 0;
    for (const std::string& f : *files) {
      parity::CaseResult r = parity::check_case(f, parse_device(*device));
      std::printf("%s", r.summary().c_str());
      failed += !r.ok();
    }
    if (failed)
      throw promoe::Error(std::to_string(failed) + " of " + std::to_string(files->size()) + " case(s) failed");
  });
}

}  // namespace promoe::apps
