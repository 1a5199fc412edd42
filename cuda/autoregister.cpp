// Registers the CUDA backend before main() runs. This file is compiled as an OBJECT library that
// cuda/CMakeLists.txt links straight into every target linking `promoe_cuda`, because a static
// initializer inside a static archive would be dropped by the linker (nothing references it).
#include "cuda/cuda_backend.h"

namespace {
struct AutoRegister {
  AutoRegister() { promoe::cuda::register_backend(); }
} auto_register;
}  // namespace
