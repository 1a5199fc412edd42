// Independent jobs on a device's threads. run_jobs(device, n, job) runs job(0) ... job(n - 1), each
// exactly once, and returns when all are done, rethrowing the first exception a job threw. Where
// the device's backend registered a runner (the CPU: cpu/jobs.cpp), the jobs run at the same time,
// each on one thread with every kernel it calls single-threaded; that beats splitting each small
// kernel over the threads when the work comes in independent pieces (sampling batches: no fork
// and join per kernel, no idle thread at a serial step). Elsewhere (CUDA: one stream) they run one
// after another on the calling thread. Thread-local settings (grad mode, GEMM precision) are the
// job's to set; jobs must not share tensors they write.
#pragma once
#include <cstdint>
#include <functional>

#include "tensor/device.h"

namespace promoe {

using JobFn = std::function<void(int64_t index)>;
using JobRunner = void (*)(int64_t n, const JobFn& job);

void run_jobs(Device device, int64_t n, const JobFn& job);

// How many jobs `device` runs at once (1 where no runner is registered).
int64_t concurrent_jobs(Device device);

// Called by a backend library from a static initializer; returns true so that the registration
// can initialise a constant. `width` says how many jobs the runner runs at once.
bool register_job_runner(DeviceType type, JobRunner runner, int64_t (*width)());

}  // namespace promoe
