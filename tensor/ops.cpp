// Raw tensor operations: creation, copies, views, elementwise ops and reductions, each validating
// its arguments with readable errors, allocating the output and dispatching to the backend.
// Matrix products and normalisation are in ops_matmul.cpp, indexing and joining in ops_index.cpp.
#include "tensor/ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/ops_util.h"

namespace promoe::raw {

void check_defined(const Tensor& t, const char* op) { PROMOE_CHECK(t.defined(), op, ": undefined tensor argument"); }

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  PROMOE_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch, ", describe(a), " vs ", describe(b));
}

void check_floating(const Tensor& a, const char* op) {
  PROMOE_CHECK(is_floating(a.dtype()) && a.dtype() != DType::BF16, op, ": needs an f32 or f64 tensor, got ",
               describe(a));
}

namespace detail {

// Moves `dim` to the last position (a view).
Tensor move_to_last(const Tensor& a, int64_t dim) {
  if (dim == a.dim() - 1) return a;
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (i != dim) perm.push_back(i);
  perm.push_back(dim);
  return permute(a, perm);
}

// Inverse of move_to_last.
Tensor move_from_last(const Tensor& a, int64_t dim) {
  if (dim == a.dim() - 1) return a;
  std::vector<int64_t> perm(a.dim());
  for (int64_t i = 0, j = 0; i < a.dim(); ++i) perm[i] = i == dim ? a.dim() - 1 : j++;
  return permute(a, perm);
}

// Checks that an i64 index tensor's values lie in [0, bound) (host-side, for CPU indices).
void check_index_range(const Tensor& index, int64_t bound, const char* op) {
  if (!index.device().is_cpu()) return;
  Tensor c = contiguous(index);
  const int64_t* p = c.data<int64_t>();
  for (int64_t i = 0; i < c.numel(); ++i)
    PROMOE_CHECK(p[i] >= 0 && p[i] < bound, op, ": index ", p[i], " out of range for a dim of size ", bound);
}

}  // namespace detail

using namespace detail;

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::F64 || b == DType::F64) return DType::F64;
  return DType::F32;
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  PROMOE_CHECK(a.device() == b.device(), op, ": device mismatch, ", describe(a), " vs ", describe(b));
}

void check_index_tensor(const Tensor& index, const char* op) {
  PROMOE_CHECK(index.dtype() == DType::I64, op, ": indices must be i64, got ", describe(index));
}

// ---------------------------------------------------------------------------------------------
// Creation

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.numel()) be(t).fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(int64_t n, DType dtype, Device device) { return arange(0, double(n), 1, dtype, device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  PROMOE_CHECK(step != 0, "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  Tensor t = Tensor::empty({n}, dtype, device);
  if (n) be(t).arange(t, start, step);
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  PROMOE_CHECK(int64_t(values.size()) == numel_of(shape), "from_vector: ", values.size(), " values do not fill shape ",
               shape_str(shape));
  DType dt = std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I64;
  Tensor host = Tensor::empty(shape, dt, Device::cpu());
  std::copy(values.begin(), values.end(), host.data<T>());
  return device.is_cpu() ? host : to(host, dt, device);
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);

// ---------------------------------------------------------------------------------------------
// Copies

void fill_(const Tensor& dst, double value) {
  if (dst.numel()) be(dst).fill(dst, value);
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "copy_");
  check_defined(src, "copy_");
  Tensor s = expand(src, dst.shape());
  if (dst.numel() == 0) return;
  if (dst.device() == s.device()) {
    be(dst).copy(dst, s);
    return;
  }
  if (dst.device().is_cpu()) {  // device -> host: stage the contiguous source bytes on the host
    Tensor sc = contiguous(s);
    Tensor staged = Tensor::empty(sc.shape(), sc.dtype(), Device::cpu());
    be(sc).copy_to_host(staged.raw_data(), sc.raw_data(), sc.numel() * dtype_size(sc.dtype()));
    be(dst).copy(dst, staged);
  } else {  // host -> device: convert on the host, upload, then place with the device's copy
    Tensor sc = Tensor::empty(s.shape(), dst.dtype(), Device::cpu());
    be(sc).copy(sc, s);
    Tensor staged = Tensor::empty(sc.shape(), dst.dtype(), dst.device());
    be(staged).copy_from_host(staged.raw_data(), sc.raw_data(), sc.numel() * dtype_size(sc.dtype()));
    be(dst).copy(dst, staged);
  }
}

Tensor to(const Tensor& a, DType dtype, Device device) {
  check_defined(a, "to");
  if (a.dtype() == dtype && a.device() == device) return a;
  Tensor out = Tensor::empty(a.shape(), dtype, device);
  copy_(out, a);
  return out;
}
Tensor to(const Tensor& a, DType dtype) { return to(a, dtype, a.device()); }
Tensor to(const Tensor& a, Device device) { return to(a, a.dtype(), device); }

Tensor clone(const Tensor& a) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (a.numel()) be(a).copy(out, a);
  return out;
}

Tensor contiguous(const Tensor& a) { return a.is_contiguous() ? a : clone(a); }

// ---------------------------------------------------------------------------------------------
// Views

namespace {
// Strides that let `new_shape` view the elements of (old_shape, old_strides) in row-major order,
// or an empty result when no such strides exist (PyTorch's computeStride): the old dims are cut
// into chunks that are contiguous among themselves, and each chunk must be an exact product of
// consecutive new dims.
bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& new_shape, Shape& out) {
  out.assign(new_shape.size(), 0);
  if (old_shape.empty() || numel_of(old_shape) == 0) {  // one element or none: any strides work
    out = contiguous_strides(new_shape);
    return true;
  }
  int64_t view_d = int64_t(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    bool chunk_ends = d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return false;
    if (d > 0) {
      chunk_base_stride = old_strides[d - 1];
      tensor_numel = view_numel = 1;
    }
  }
  return view_d == -1;
}
}  // namespace

Tensor reshape(const Tensor& a, Shape shape) {
  check_defined(a, "reshape");
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      PROMOE_CHECK(infer < 0, "reshape: only one dim may be -1, got ", shape_str(shape));
      infer = int64_t(i);
    } else {
      PROMOE_CHECK(shape[i] >= 0, "reshape: invalid size in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    PROMOE_CHECK(known > 0 && a.numel() % known == 0, "reshape: cannot reshape ", describe(a), " (", a.numel(),
                 " elements) to ", shape_str(shape));
    shape[infer] = a.numel() / known;
  }
  PROMOE_CHECK(numel_of(shape) == a.numel(), "reshape: cannot reshape ", describe(a), " (", a.numel(), " elements) to ",
               shape_str(shape));
  Shape strides;
  if (view_strides(a.shape(), a.strides(), shape, strides)) return Tensor::view_of(a, shape, strides, a.offset());
  Tensor c = clone(a);  // the strides do not allow a view: copy once
  return Tensor::view_of(c, shape, contiguous_strides(shape), c.offset());
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  PROMOE_CHECK(int64_t(dims.size()) == a.dim(), "permute: ", dims.size(), " dims given for ", describe(a));
  Shape shape(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], a.dim(), "permute");
    PROMOE_CHECK(!seen[d], "permute: dim ", d, " repeated");
    seen[d] = true;
    shape[i] = a.shape()[d];
    strides[i] = a.strides()[d];
  }
  return Tensor::view_of(a, shape, strides, a.offset());
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  d0 = wrap_dim(d0, a.dim(), "transpose");
  d1 = wrap_dim(d1, a.dim(), "transpose");
  Shape shape = a.shape(), strides = a.strides();
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  return Tensor::view_of(a, shape, strides, a.offset());
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  dim = wrap_dim(dim, a.dim(), "narrow");
  PROMOE_CHECK(start >= 0 && length >= 0 && start + length <= a.shape()[dim], "narrow: range [", start, ", ",
               start + length, ") out of bounds for dim ", dim, " of ", describe(a));
  Shape shape = a.shape();
  shape[dim] = length;
  return Tensor::view_of(a, shape, a.strides(), a.offset() + start * a.strides()[dim]);
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  dim = wrap_dim(dim, a.dim(), "select");
  PROMOE_CHECK(index >= 0 && index < a.shape()[dim], "select: index ", index, " out of range for dim ", dim, " of ",
               describe(a));
  return squeeze(narrow(a, dim, index, 1), dim);
}

Tensor expand(const Tensor& a, const Shape& shape_in) {
  check_defined(a, "expand");
  PROMOE_CHECK(int64_t(shape_in.size()) >= a.dim(), "expand: cannot expand ", describe(a), " to ", shape_str(shape_in));
  size_t lead = shape_in.size() - a.shape().size();
  Shape shape = shape_in, strides(shape.size(), 0);
  for (size_t i = 0; i < a.shape().size(); ++i) {
    if (shape[lead + i] == -1) shape[lead + i] = a.shape()[i];  // -1 keeps the size, as in PyTorch
    int64_t have = a.shape()[i], want = shape[lead + i];
    PROMOE_CHECK(have == want || have == 1, "expand: cannot expand ", describe(a), " to ", shape_str(shape));
    strides[lead + i] = have == want ? a.strides()[i] : 0;
  }
  if (shape == a.shape()) return a;
  return Tensor::view_of(a, shape, strides, a.offset());
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  dim = wrap_dim(dim, a.dim(), "squeeze");
  PROMOE_CHECK(a.shape()[dim] == 1, "squeeze: dim ", dim, " of ", describe(a), " is not of size 1");
  Shape shape = a.shape(), strides = a.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return Tensor::view_of(a, shape, strides, a.offset());
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  dim = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Shape shape = a.shape(), strides = a.strides();
  int64_t st = dim < a.dim() ? a.strides()[dim] * a.shape()[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, st);
  return Tensor::view_of(a, shape, strides, a.offset());
}

// ---------------------------------------------------------------------------------------------
// Elementwise

const char* op_name(UnaryOp op) { return op_kind_name(op); }
const char* op_name(BinaryOp op) { return op_kind_name(op); }

Tensor unary(UnaryOp op, const Tensor& a, double p0, double p1) {
  const char* name = op_name(op);
  check_defined(a, name);
  check_floating(a, name);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (a.numel()) be(a).unary(op, out, a, p0, p1);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_defined(a, name);
  check_defined(b, name);
  check_same_device(a, b, name);
  check_same_dtype(a, b, name);
  PROMOE_CHECK(a.dtype() != DType::BF16, name, ": bf16 is a storage format, convert ", describe(a), " to f32 first");
  PROMOE_CHECK(binary_defined_for_i64(op) || a.dtype() != DType::I64, name, ": not defined for i64 tensors, got ",
               describe(a), " and ", describe(b));
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel()) be(a).binary(op, out, expand(a, shape), expand(b, shape));
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(cond, "where");
  check_defined(a, "where");
  check_defined(b, "where");
  check_same_device(cond, a, "where");
  check_same_device(a, b, "where");
  check_same_dtype(a, b, "where");
  PROMOE_CHECK(a.dtype() != DType::BF16, "where: bf16 is a storage format, convert ", describe(a), " to f32 first");
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel()) be(a).where(out, expand(cond, shape), expand(a, shape), expand(b, shape));
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor mul_scalar(const Tensor& a, double s) { return unary(UnaryOp::Affine, a, s, 0.0); }
Tensor add_scalar(const Tensor& a, double s) { return unary(UnaryOp::Affine, a, 1.0, s); }

void add_(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "add_");
  check_defined(src, "add_");
  check_same_device(dst, src, "add_");
  check_same_dtype(dst, src, "add_");
  PROMOE_CHECK(broadcast_shapes(dst.shape(), src.shape(), "add_") == dst.shape(), "add_: ", describe(src),
               " cannot be added in place into ", describe(dst));
  if (dst.numel()) be(dst).binary(BinaryOp::Add, dst, dst, expand(src, dst.shape()));
}

// ---------------------------------------------------------------------------------------------
// Reductions

Tensor reduce(ReduceOp op, const Tensor& a, std::vector<int64_t> dims, bool keepdim) {
  const char* name = op_kind_name(op);
  check_defined(a, name);
  PROMOE_CHECK(a.dtype() != DType::BF16, name, ": bf16 is a storage format, convert ", describe(a), " to f32 first");
  if (dims.empty())
    for (int64_t i = 0; i < a.dim(); ++i) dims.push_back(i);
  std::vector<bool> reduced(a.dim(), false);
  for (int64_t& d : dims) {
    d = wrap_dim(d, a.dim(), name);
    PROMOE_CHECK(!reduced[d], name, ": dim ", d, " listed twice for ", describe(a));
    reduced[d] = true;
  }
  std::vector<int64_t> perm;
  Shape kept_shape, keep_shape;
  for (int64_t i = 0; i < a.dim(); ++i) {
    if (!reduced[i]) {
      perm.push_back(i);
      kept_shape.push_back(a.shape()[i]);
    }
    keep_shape.push_back(reduced[i] ? 1 : a.shape()[i]);
  }
  int64_t n_reduced = 0;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (reduced[i]) {
      perm.push_back(i);
      PROMOE_CHECK(a.shape()[i] > 0 || op == ReduceOp::Sum, name, ": reduction over the empty dim ", i, " of ",
                   describe(a));
      ++n_reduced;
    }
  Tensor out = Tensor::empty(kept_shape, a.dtype(), a.device());
  if (out.numel()) be(a).reduce(op, out, permute(a, perm), n_reduced);
  return keepdim ? reshape(out, keep_shape) : out;
}

Tensor sum(const Tensor& a, std::vector<int64_t> dims, bool keepdim) {
  return reduce(ReduceOp::Sum, a, std::move(dims), keepdim);
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.shape() == shape) return a;
  PROMOE_CHECK(a.shape().size() >= shape.size(), "sum_to: cannot sum ", describe(a), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  size_t lead = a.shape().size() - shape.size();
  for (size_t i = 0; i < a.shape().size(); ++i) {
    PROMOE_CHECK(i < lead || shape[i - lead] == 1 || shape[i - lead] == a.shape()[i], "sum_to: cannot sum ",
                 describe(a), " to ", shape_str(shape));
    if (i < lead || (shape[i - lead] == 1 && a.shape()[i] != 1)) dims.push_back(int64_t(i));
  }
  Tensor s = dims.empty() ? a : sum(a, dims, true);
  return reshape(s, shape);
}

ValuesIndices max_dim(const Tensor& a, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, a.dim(), "max");
  PROMOE_CHECK(a.shape()[dim] > 0, "max: empty dim ", dim, " of ", describe(a));
  Tensor moved = move_to_last(a, dim);
  Shape kept(moved.shape().begin(), moved.shape().end() - 1);
  ValuesIndices r{Tensor::empty(kept, a.dtype(), a.device()), Tensor::empty(kept, DType::I64, a.device())};
  if (r.values.numel()) be(a).arg_reduce(ReduceOp::Max, r.values, r.indices, moved);
  if (keepdim) {
    r.values = unsqueeze(r.values, dim);
    r.indices = unsqueeze(r.indices, dim);
  }
  return r;
}

Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) { return max_dim(a, dim, keepdim).indices; }

}  // namespace promoe::raw
