// Tensor: a refcounted Storage plus a view (shape, element strides, offset), a dtype and, when it
// takes part in differentiation, autograd metadata. Copying a Tensor copies the handle, not data.
//
// This header holds metadata and raw access only. Computation lives in tensor/ops.h (raw kernels,
// no gradients) and autograd/ops.h (the differentiable API that models use).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace promoe {

struct Node;  // autograd/node.h

// Per-tensor autograd state. A leaf that requires grad has no grad_fn; an op result has one.
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<struct TensorImpl> grad;  // accumulated gradient of a leaf
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::F32;
  std::shared_ptr<AutogradMeta> autograd;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // A new, uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  // A view of `base`'s storage with new geometry (no autograd metadata).
  static Tensor view_of(const Tensor& base, Shape shape, Shape strides, int64_t offset);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }

  // Pointer to element 0 of the view; for host code on CPU tensors of the matching dtype.
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Reads a one-element tensor (any dtype, any device) as double.
  double item() const;
  // Copies all elements (in logical row-major order) to the host as T (f32/f64/i64 converted).
  template <typename T>
  std::vector<T> to_vector() const;

  // Autograd state.
  bool requires_grad() const { return impl().autograd && impl().autograd->requires_grad; }
  Tensor& set_requires_grad(bool r);
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);
  bool is_leaf() const { return !impl().autograd || !impl().autograd->grad_fn; }
  // Same storage and view, no autograd history.
  Tensor detach() const;

  // Runs reverse-mode differentiation from this tensor (autograd/engine.cpp).
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  TensorImpl& impl() const {
    PROMOE_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  AutogradMeta& autograd_meta();
  std::shared_ptr<TensorImpl> impl_;
};

// "f32[2, 3] on cpu", for error messages.
std::string describe(const Tensor& t);

}  // namespace promoe
