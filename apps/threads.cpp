// Thread control shared by the subcommands: the thread count, and how long idle OpenMP threads
// spin before they sleep.
#include <omp.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <thread>

#include "apps/commands.h"
#include "apps/option_range.h"

namespace promoe::apps {

int max_threads() { return 4 * std::max(1u, std::thread::hardware_concurrency()); }

void add_threads_option(CLI::App* cmd, int& threads) {
  ranged(cmd->add_option("--threads", threads, "CPU threads (0: OpenMP's default)"), 0, max_threads())
      ->capture_default_str();
}

void set_threads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);
  Eigen::setNbThreads(threads);
}

// libgomp's idle threads spin for about 300000 iterations before they sleep. A training step runs
// thousands of short parallel regions with serial work between them, and on the 2-vCPU machines
// this runs on the long spin slowed 2-thread steps markedly; 10000 measured best (docs/PERF.md). libgomp reads
// GOMP_SPINCOUNT once, when it loads, so the process re-executes itself with it set. A user's own GOMP_SPINCOUNT or
// OMP_WAIT_POLICY is left alone.
void tune_openmp_wait(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") || std::getenv("OMP_WAIT_POLICY")) return;
  if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: run on with libgomp's default
}

}  // namespace promoe::apps
