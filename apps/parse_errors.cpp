// Command-line error ordering (parse_errors.h).
#include "apps/parse_errors.h"

namespace promoe::apps {

std::string unknown_subcommand(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return {};
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == argv[1]) return {};
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return std::string("unknown subcommand '") + argv[1] + "' (expected one of: " + names + ")";
}

std::string unrecognised_arguments(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands()) {
    const std::vector<std::string> extra = sub->remaining();
    if (!extra.empty()) {
      std::string list;
      for (const std::string& e : extra) list += (list.empty() ? "" : " ") + e;
      return sub->get_name() + ": unknown argument" + (extra.size() > 1 ? "s " : " ") + list + " (see promoe " +
             sub->get_name() + " --help)";
    }
  }
  return {};
}

}  // namespace promoe::apps
