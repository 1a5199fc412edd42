// The registry from devices to backends. The CPU backend is always there; the CUDA backend
// registers itself when it is compiled in.
#include "tensor/backend.h"

#include "cpu/cpu_backend.h"

namespace promoe {

namespace {
Backend* (*g_cuda_factory)() = nullptr;
bool (*g_cuda_available)() = nullptr;
}  // namespace

void register_cuda_backend(Backend* (*factory)(), bool (*available)()) {
  g_cuda_factory = factory;
  g_cuda_available = available;
}

bool cuda_available() { return g_cuda_available && g_cuda_available(); }

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  PROMOE_CHECK(g_cuda_factory, "device ", device.str(), " requested but this build has no CUDA backend");
  PROMOE_CHECK(cuda_available(), "device ", device.str(), " requested but no CUDA GPU is present");
  PROMOE_CHECK(device.index == 0, "device ", device.str(), ": the CUDA backend drives one GPU, cuda:0");
  return *g_cuda_factory();
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return Device::cuda(std::stoi(s.substr(5)));
    } catch (const std::exception&) {
    }
  }
  PROMOE_FAIL("unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

}  // namespace promoe
