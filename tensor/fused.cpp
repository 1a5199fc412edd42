// The table of fast fused-op kernels. Filled by static initializers of the backend libraries before
// main() runs and read afterwards; registration is not meant to race with running ops.
#include "tensor/fused.h"

#include <map>
#include <string_view>

#include "tensor/error.h"

namespace promoe::fused_registry {

namespace {
// The kernels of one op, indexed by DeviceType, with the signature each was registered with.
struct Kernels {
  AnyFn fn[2] = {nullptr, nullptr};
  std::type_index signature[2] = {typeid(void), typeid(void)};
  AnyFn reference = nullptr;
  std::type_index reference_signature = typeid(void);
};
using Table = std::map<std::string, Kernels, std::less<>>;
// Constructed on first use: registrations run from other files' static initializers.
Table& table() {
  static Table* t = new Table;  // never destroyed: ops may run from static destructors
  return *t;
}
int slot(DeviceType type) { return type == DeviceType::CPU ? 0 : 1; }
}  // namespace

void add_kernel(const char* op, DeviceType type, std::type_index signature, AnyFn fn) {
  Kernels& k = table()[op];
  k.fn[slot(type)] = fn;
  k.signature[slot(type)] = signature;
}

AnyFn find_kernel(const char* op, DeviceType type, std::type_index signature) {
  const Table& t = table();
  auto it = t.find(std::string_view(op));
  if (it == t.end() || !it->second.fn[slot(type)]) return nullptr;
  PROMOE_CHECK(it->second.signature[slot(type)] == signature, "fused op ", op, ": the kernel registered for ",
               type == DeviceType::CPU ? "cpu" : "cuda", " has another signature than the op's declaration");
  return it->second.fn[slot(type)];
}

void add_reference(const char* op, std::type_index signature, AnyFn fn) {
  Kernels& k = table()[op];
  k.reference = fn;
  k.reference_signature = signature;
}

AnyFn find_reference(const char* op, std::type_index signature) {
  const Table& t = table();
  auto it = t.find(std::string_view(op));
  PROMOE_CHECK(it != t.end() && it->second.reference, "fused op ", op, " is not declared");
  PROMOE_CHECK(it->second.reference_signature == signature, "fused op ", op,
               ": the kernel's signature differs from the op's declaration");
  return it->second.reference;
}

std::vector<std::string> declared_names() {
  std::vector<std::string> names;
  for (const auto& [name, k] : table())
    if (k.reference) names.push_back(name);
  return names;
}

std::vector<std::string> kernel_names(DeviceType type) {
  std::vector<std::string> names;
  for (const auto& [name, k] : table())
    if (k.fn[slot(type)]) names.push_back(name);
  return names;
}

}  // namespace promoe::fused_registry
