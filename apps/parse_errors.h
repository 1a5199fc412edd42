// Command-line errors in the order a user can act on them. CLI11 checks required options before
// it reports arguments it did not recognise, and reads an unknown subcommand as a missing one; so
// `promoe sample --no-such-flag` would say that --checkpoint is missing, and `promoe frob` that a
// subcommand is required. These helpers name the real problem first.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace promoe::apps {

// "unknown subcommand 'frob' (expected one of: train, sample, ...)" when argv[1] is neither an
// option nor a subcommand of `app`; empty otherwise.
std::string unknown_subcommand(const CLI::App& app, int argc, char** argv);

// After a CLI11 RequiredError: "<subcommand>: unknown argument --x" when the parse left
// arguments it did not recognise; empty otherwise.
std::string unrecognised_arguments(CLI::App& app);

}  // namespace promoe::apps
