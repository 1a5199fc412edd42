// The registry from device types to backends. Each backend registers itself from its own library
// (cpu/cpu_backend.cpp, cuda/backend.cpp); tensor/ knows none of them.
#include "tensor/backend.h"

namespace promoe {

namespace {
struct Registered {
  Backend* (*factory)() = nullptr;
  bool (*available)() = nullptr;
};
// Indexed by DeviceType. Constant-initialised, so a registration from any static initializer finds it.
Registered g_backends[2];

Registered& registered(DeviceType type) { return g_backends[type == DeviceType::CPU ? 0 : 1]; }
const char* type_name(DeviceType type) { return type == DeviceType::CPU ? "CPU" : "CUDA"; }
}  // namespace

bool register_backend(DeviceType type, Backend* (*factory)(), bool (*available)()) {
  registered(type) = {factory, available};
  return true;
}

bool cuda_available() {
  const Registered& r = registered(DeviceType::CUDA);
  return r.available && r.available();
}

Backend& backend_for(Device device) {
  const Registered& r = registered(device.type);
  if (device.is_cpu() && r.factory) return *r.factory();
  PROMOE_CHECK(r.factory, "device ", device.str(), " requested but this build has no ", type_name(device.type),
               " backend");
  PROMOE_CHECK(r.available(), "device ", device.str(), " requested but no CUDA GPU is present");
  PROMOE_CHECK(device.index == 0, "device ", device.str(), ": the CUDA backend drives one GPU, cuda:0");
  return *r.factory();
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
