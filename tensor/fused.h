// Fused operations beside the backend boundary. A fused op (adaLN, attention, the cosine router,
// grouped expert layers, optimizer updates, ...) is declared by the layer that owns it (nn/, moe/)
// as a FusedOp: a name, the signature of its kernel and its composed reference, written with raw
// ops on the backend's primitives. The reference is the op's definition and runs on every device.
// A backend may add a fast kernel for it by registering a function of the same signature under the
// same name (cpu/*.cpp, cuda/*.cu, from a static initializer); calls then go to that kernel on that
// backend's devices. Adding a fused op or a fast kernel touches neither Backend nor any other
// kernel: it adds a declaration and a registration.
//
// Kernel conventions are the backend's (tensor/backend.h): outputs first and already allocated,
// operands laid out as the op's declaration says (the owning layer's checked entry point ensures it).
#pragma once
#include <string>
#include <typeindex>
#include <vector>

#include "tensor/device.h"

namespace promoe {

namespace fused_registry {
using AnyFn = void (*)();
// The table behind FusedOp and register_fused_kernel; keyed by (op name, device type). Lookups
// throw when the kernel was registered with another signature than the op's.
void add_kernel(const char* op, DeviceType type, std::type_index signature, AnyFn fn);
AnyFn find_kernel(const char* op, DeviceType type, std::type_index signature);
// Every FusedOp enters its reference when it is constructed (before main()).
void add_reference(const char* op, std::type_index signature, AnyFn fn);
AnyFn find_reference(const char* op, std::type_index signature);  // throws if `op` is not declared
// Names of the ops with a fast kernel on `type`, and of all declared ops, sorted.
std::vector<std::string> kernel_names(DeviceType type);
std::vector<std::string> declared_names();
}  // namespace fused_registry

template <typename Signature>
class FusedOp;

template <typename R, typename... Args>
class FusedOp<R(Args...)> {
 public:
  using Fn = R(Args...);
  FusedOp(const char* name, Fn* reference) : name_(name), reference_(reference) {
    fused_registry::add_reference(name, typeid(Fn), reinterpret_cast<fused_registry::AnyFn>(reference));
  }

  const char* name() const { return name_; }
  // The composed definition.
  Fn* reference() const { return reference_; }
  // The fast kernel registered for `type`, or nullptr.
  Fn* kernel(DeviceType type) const {
    return reinterpret_cast<Fn*>(fused_registry::find_kernel(name_, type, typeid(Fn)));
  }
  // Runs the kernel of `device`'s backend, or the reference where it has none.
  R operator()(Device device, Args... args) const {
    Fn* fast = kernel(device.type);
    return (fast ? fast : reference_)(args...);
  }

 private:
  const char* name_;
  Fn* reference_;
};

// Registers `fn` as the fast kernel of the fused op named `op` on devices of `type`. Returns true,
// so that a registration can initialise a constant at namespace scope:
//   const bool registered = register_fused_kernel("nn.gated_add", DeviceType::CPU, &gated_add);
template <typename R, typename... Args>
bool register_fused_kernel(const char* op, DeviceType type, R (*fn)(Args...)) {
  fused_registry::add_kernel(op, type, typeid(R(Args...)), reinterpret_cast<fused_registry::AnyFn>(fn));
  return true;
}

// The reference of the declared op `op`, for a fast kernel that covers only some cases (a head size
// it has no tile for) and hands the others to the definition. Fn is the kernel's own type:
//   fused_reference<decltype(attention)>("nn.attention")(out, lse, q, k, v, scale);
template <typename Fn>
Fn* fused_reference(const char* op) {
  return reinterpret_cast<Fn*>(fused_registry::find_reference(op, typeid(Fn)));
}

}  // namespace promoe
