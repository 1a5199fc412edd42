// promoe: train, sample, inspect, check and benchmark ProMoE diffusion transformers.
#include <cstdio>

#include "apps/commands.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  promoe::apps::tune_openmp_wait(argv);
  CLI::App app{"promoe: ProMoE mixture-of-experts diffusion transformers on a from-scratch C++ runtime"};
  app.require_subcommand(1);
  promoe::apps::add_train_command(app);
  promoe::apps::add_sample_command(app);
  promoe::apps::add_info_command(app);
  promoe::apps::add_check_command(app);
  promoe::apps::add_bench_command(app);
  promoe::apps::add_routing_command(app);
  promoe::apps::add_eval_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const promoe::Error& e) {
    std::fprintf(stderr, "promoe: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "promoe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
