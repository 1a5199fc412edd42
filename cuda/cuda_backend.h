// Public entry points of the CUDA backend (library `promoe_cuda`). Tensors on Device::cuda() reach
// the backend through tensor/backend.h like any other device; this header only adds what has no
// place in that interface: registration and the caching allocator's controls.
//
// Registration: linking `promoe_lib` is enough. cuda/backend.cpp registers the backend from a
// static initializer, and promoe_lib links this library's archive whole so the linker keeps it.
// Calling register_backend() yourself is harmless (idempotent).
#pragma once
#include <cstddef>

namespace promoe::cuda {

// Registers the CUDA backend with tensor/backend.cpp (promoe::register_backend). Touches no GPU (the backend is created
// on first use), so it is safe on machines without a driver.
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
