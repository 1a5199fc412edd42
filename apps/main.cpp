// promoe: train, sample, inspect, check and benchmark ProMoE diffusion transformers.
#include <csignal>
#include <cstdio>

#include "apps/commands.h"
#include "apps/parse_errors.h"
#include "dist/communicator.h"
#include "tensor/error.h"

namespace {
// The error line, and the exit status. Under mpirun with several ranks the failing rank names
// itself and ends the whole job (MPI_Abort), so that no other rank waits forever in a collective.
int fail(const char* what) {
  bool several = false;
  try {
    several = promoe::dist::launched_by_mpi() && promoe::dist::world().size() > 1;
  } catch (const std::exception&) {  // started by mpirun, but no MPI in this build: report the first error
  }
  if (!several) {
    std::fprintf(stderr, "promoe: error: %s\n", what);
    return 1;
  }
  promoe::dist::Communicator& w = promoe::dist::world();
  std::fprintf(stderr, "promoe: error: rank %d of %d: %s\n", w.rank(), w.size(), what);
  w.abort(1);
}
}  // namespace

int main(int argc, char** argv) {
  promoe::apps::tune_openmp_wait(argv);
  // A write past the file-size limit (ulimit -f) would otherwise kill the process silently and
  // leave a temp file; ignored, the write fails with EFBIG, which the atomic writer reports and
  // cleans up like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"promoe: ProMoE mixture-of-experts diffusion transformers on a from-scratch C++ runtime"};
  app.require_subcommand(1);
  // One line per error, in the form of the program's other errors.
  app.failure_message(
      [](const CLI::App*, const CLI::Error& e) { return std::string("promoe: error: ") + e.what() + "\n"; });
  promoe::apps::add_train_command(app);
  promoe::apps::add_sample_command(app);
  promoe::apps::add_info_command(app);
  promoe::apps::add_check_command(app);
  promoe::apps::add_bench_command(app);
  promoe::apps::add_routing_command(app);
  promoe::apps::add_eval_command(app);
  promoe::apps::add_ablate_command(app, argc, argv);
  promoe::apps::add_decode_command(app);
  promoe::apps::add_encode_command(app);
  promoe::apps::add_import_command(app);
  promoe::apps::add_export_command(app);
  promoe::apps::add_latents_command(app);
  const std::string unknown = promoe::apps::unknown_subcommand(app, argc, argv);
  if (!unknown.empty()) {
    std::fprintf(stderr, "promoe: error: %s\n", unknown.c_str());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RequiredError& e) {
    const std::string extra = promoe::apps::unrecognised_arguments(app);
    if (extra.empty()) return app.exit(e);
    std::fprintf(stderr, "promoe: error: %s\n", extra.c_str());
    return 1;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // promoe::Error and everything else
    return fail(e.what());
  }
  return 0;
}
