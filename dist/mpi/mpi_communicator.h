// The MPI communicator for tensors in host memory, over MPI_COMM_WORLD. MPI is initialised with
// MPI_THREAD_FUNNELED on construction (every MPI call comes from the thread that created it) and
// finalised at exit. Nonblocking reductions (MPI_Iallreduce) progress whenever any call of this
// communicator is made, which is why the gradient hook tests the reductions in flight.
#pragma once
#include "dist/communicator.h"

namespace promoe::dist {

std::unique_ptr<Communicator> make_mpi_world();

}  // namespace promoe::dist
