// Thread-count control shared by the subcommands.
#include <omp.h>

#include <Eigen/Core>

#include "apps/commands.h"

namespace promoe::apps {

void set_threads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);
  Eigen::setNbThreads(threads);
}

}  // namespace promoe::apps
