// Public entry points of the CUDA backend (library `promoe_cuda`). Tensors on Device::cuda() reach
// the backend through tensor/backend.h like any other device; this header only adds what has no
// place in that interface: registration and the caching allocator's controls.
//
// Registration: linking `promoe_cuda` (CMake target) is enough. The target carries a small object
// file (cuda/autoregister.cpp, an OBJECT library propagated through INTERFACE link items) whose
// static initializer calls register_backend(), so the static archive cannot be dropped by the
// linker. Calling register_backend() yourself is harmless (idempotent) and needed only when the
// library is linked by hand without that object.
#pragma once
#include <cstddef>

namespace promoe::cuda {

// Registers the CUDA backend with tensor/backend.cpp. Touches no GPU (the backend is created on
// first use), so it is safe on machines without a driver.
void register_backend();

// True when a CUDA GPU is usable (driver present, at least one device). Cached after the first call.
bool available();

// Caching allocator: bytes held in free lists; returns them to the driver.
size_t cached_bytes();
size_t reserved_bytes();  // held from the driver: live blocks (rounded to size classes) + cached
void empty_cache();

// Waits for all queued GPU work and reports any asynchronous error (including out-of-range
// indices seen by the indexing kernels) as a promoe::Error.
void synchronize();

}  // namespace promoe::cuda
