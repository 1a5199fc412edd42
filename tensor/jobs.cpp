// The job runners backends register (tensor/jobs.h).
#include "tensor/jobs.h"

namespace promoe {

namespace {
struct Registered {
  JobRunner runner = nullptr;
  int64_t (*width)() = nullptr;
};
// Indexed by DeviceType; constant-initialised, so a registration from any static initializer finds it.
Registered g_runners[2];
Registered& registered(DeviceType type) { return g_runners[type == DeviceType::CPU ? 0 : 1]; }
}  // namespace

bool register_job_runner(DeviceType type, JobRunner runner, int64_t (*width)()) {
  registered(type) = {runner, width};
  return true;
}

void run_jobs(Device device, int64_t n, const JobFn& job) {
  const Registered& r = registered(device.type);
  if (r.runner && n > 1) {
    r.runner(n, job);
    return;
  }
  for (int64_t i = 0; i < n; ++i) job(i);
}

int64_t concurrent_jobs(Device device) {
  const Registered& r = registered(device.type);
  return r.width ? r.width() : 1;
}

}  // namespace promoe
