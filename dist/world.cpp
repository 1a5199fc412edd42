// world() and for_device(): which communicator a process gets.
#include <cstdlib>

#include "dist/communicator.h"
#include "dist/single_process.h"
#ifdef PROMOE_WITH_MPI
#include "dist/mpi/mpi_communicator.h"
#endif
#ifdef PROMOE_WITH_NCCL
#include "dist/nccl/nccl_communicator.h"
#endif

namespace promoe::dist {

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(var)) return true;
  return false;
}

Communicator& world() {
  static std::unique_ptr<Communicator> w = []() -> std::unique_ptr<Communicator> {
    if (!launched_by_mpi()) return std::make_unique<SingleProcess>();
#ifdef PROMOE_WITH_MPI
    return make_mpi_world();
#else
    PROMOE_FAIL("dist: started by an MPI launcher, but this build has no MPI (install libopenmpi-dev and rebuild)");
#endif
  }();
  return *w;
}

Communicator& for_device(Device device) {
  if (device.type == DeviceType::CPU || world().size() == 1) return world();
#ifdef PROMOE_WITH_NCCL
  static std::unique_ptr<Communicator> nccl = make_nccl_communicator(world(), device);
  return *nccl;
#else
  PROMOE_FAIL("dist: ", world().size(), " ranks on ", device.str(),
              " need NCCL, which this build does not have (install NCCL with the CUDA toolkit and rebuild)");
#endif
}

}  // namespace promoe::dist
