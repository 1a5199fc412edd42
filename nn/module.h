// Module: a named tree of parameters, buffers and child modules, so that every tensor has the
// hierarchical name of the official PyTorch state_dict (e.g. "blocks.3.attn.qkv.weight").
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace promoe {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  // Not copyable: a copy would share the original's parameter tensors (storage is refcounted), so
  // training one would train both. Modules are held by shared_ptr.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // Trainable tensors, in registration order, with full dotted names.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  // Parameters and buffers together: what a checkpoint or state_dict holds.
  NamedTensors state_dict() const;
  int64_t num_parameters() const;  // trainable elements

  // Moves every parameter and buffer to `device`, or converts it to `dtype` (in place: references
  // to them stay valid; f64 models serve gradient checks).
  void to(Device device);
  void to(DType dtype);

  void train(bool on = true);
  bool is_training() const { return training_; }

 protected:
  // The returned reference stays valid for the module's lifetime (parameters are updated in place).
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  // Drops a child and everything under it (its parameters leave the listings; tensors others still
  // hold stay alive). An unknown name is an error.
  void remove_module(const std::string& name);

 private:
  void collect(const std::string& prefix, bool with_buffers, NamedTensors& out) const;
  void convert(Device device, DType dtype, bool keep_dtype);

  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A plain holder of named children, for PyTorch containers such as nn.Sequential and nn.ModuleList
// whose children are named "0", "1", ... in the state_dict.
class Container : public Module {
 public:
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
  void remove(const std::string& name) { remove_module(name); }
};

}  // namespace promoe
