// Tensor handle: construction, geometry queries, host access and autograd bookkeeping.
#include "tensor/tensor.h"

#include "tensor/backend.h"
#include "tensor/ops.h"

namespace promoe {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape) PROMOE_CHECK(s >= 0, "empty: negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  size_t n = size_t(numel_of(shape));
  impl->storage = std::make_shared<Storage>(n * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * int64_t(dtype_size(dtype()));
}

double Tensor::item() const {
  PROMOE_CHECK(numel() == 1, "item: expected a one-element tensor, got ", describe(*this));
  return to_vector<double>()[0];
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  DType want = std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I64;
  // `to` returns the tensor itself when nothing changes: make sure the bytes are in logical order.
  Tensor host = raw::contiguous(raw::to(*this, want, Device::cpu()));
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

AutogradMeta& Tensor::autograd_meta() {
  auto& a = impl().autograd;
  if (!a) a = std::make_shared<AutogradMeta>();
  return *a;
}

Tensor& Tensor::set_requires_grad(bool r) {
  PROMOE_CHECK(!r || is_floating(dtype()), "requires_grad: only floating tensors can require gradients, got ",
               describe(*this));
  PROMOE_CHECK(is_leaf(), "requires_grad: can only be set on a leaf tensor");
  autograd_meta().requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const {
  auto& a = impl().autograd;
  return a && a->grad ? Tensor(a->grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) { autograd_meta().grad = g.impl_ptr(); }

void Tensor::zero_grad() {
  if (impl().autograd) impl().autograd->grad.reset();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl().autograd ? impl().autograd->grad_fn : none;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> fn) {
  auto& m = autograd_meta();
  m.grad_fn = std::move(fn);
  m.requires_grad = m.grad_fn != nullptr;
}

Tensor Tensor::detach() const { return view_of(*this, shape(), strides(), offset()); }

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape()) + " on " + t.device().str();
}

}  // namespace promoe
