// The NCCL communicator for tensors on a CUDA device, over the ranks of a host communicator
// (world(): rank 0 creates the NCCL unique id and broadcasts it over MPI). Each rank uses the
// device its local rank names (OMPI_COMM_WORLD_LOCAL_RANK modulo the device count; the CUDA
// backend uses device 0, so one GPU per process, selected with CUDA_VISIBLE_DEVICES by the
// launcher, is the supported layout). Collectives run on a stream of their own after the device
// has finished the work queued before them, so they are ordered after every kernel that produced
// their input whichever stream the backend used; wait() synchronises that stream.
#pragma once
#include "dist/communicator.h"

namespace promoe::dist {

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Device device);

}  // namespace promoe::dist
