// Module bookkeeping: registration and dotted-name traversal.
#include "nn/module.h"

#include "tensor/ops.h"

namespace promoe {

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *buffers_.back().second;
}

void Module::remove_module(const std::string& name) {
  for (auto it = children_.begin(); it != children_.end(); ++it)
    if (it->first == name) {
      children_.erase(it);
      return;
    }
  PROMOE_FAIL("module: no child named '", name, "'");
}

void Module::collect(const std::string& prefix, bool with_buffers, NamedTensors& out) const {
  // Buffers first where the official model registers them first (pos_embed precedes the layers);
  // order only affects listings, never lookups.
  if (with_buffers)
    for (auto& [n, t] : buffers_) out.emplace_back(prefix + n, *t);
  for (auto& [n, t] : params_) out.emplace_back(prefix + n, *t);
  for (auto& [n, m] : children_) m->collect(prefix + n + ".", with_buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::to(Device device) { convert(device, DType::F32, true); }
void Module::to(DType dtype) { convert(Device::cpu(), dtype, false); }

void Module::convert(Device device, DType dtype, bool keep_dtype) {
  for (auto* list : {&params_, &buffers_})
    for (auto& [n, t] : *list) {
      const Device d = keep_dtype ? device : t->device();
      const DType dt = keep_dtype ? t->dtype() : dtype;
      if (t->device() == d && t->dtype() == dt) continue;
      const bool grad = t->requires_grad();
      *t = raw::to(t->detach(), dt, d);
      if (grad) t->set_requires_grad(true);
    }
  for (auto& [n, m] : children_) m->convert(device, dtype, keep_dtype);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

}  // namespace promoe
