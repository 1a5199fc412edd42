// The CPU's job runner (tensor/jobs.h): one OpenMP thread per job at a time. Inside a job the
// thread's own OpenMP thread count is 1, so the kernels' parallel loops run on it alone, and
// oneDNN's and Eigen's GEMMs, which see the enclosing parallel region, stay single-threaded too.
#include "tensor/jobs.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <mutex>

namespace promoe {

namespace {

void run_on_threads(int64_t n, const JobFn& job) {
  const int threads = int(std::min<int64_t>(n, omp_get_max_threads()));
  std::exception_ptr first;
  std::mutex mu;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    omp_set_num_threads(1);  // this implicit task's nested regions and GEMMs: one thread
    try {
      job(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

int64_t width() { return omp_get_max_threads(); }

const bool registered = register_job_runner(DeviceType::CPU, &run_on_threads, &width);

}  // namespace

}  // namespace promoe
