// Raw indexing (index_select / index_add, gather / scatter_add, topk, sort) and joining (cat,
// stack). Index values are range-checked on the host for CPU index tensors.
#include "tensor/ops.h"
#include "tensor/ops_util.h"

namespace promoe::raw {

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Indexing

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  check_index_tensor(index, "index_select");
  check_same_device(a, index, "index_select");
  PROMOE_CHECK(index.dim() == 1, "index_select: index must be 1-D, got ", describe(index));
  dim = wrap_dim(dim, a.dim(), "index_select");
  check_index_range(index, a.shape()[dim], "index_select");
  Shape shape = a.shape();
  shape[dim] = index.numel();
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel()) be(a).index_select(out, a, dim, contiguous(index));
  return out;
}

void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "index_add");
  check_same_device(dst, index, "index_add");
  check_same_device(dst, src, "index_add");
  check_same_dtype(dst, src, "index_add");
  PROMOE_CHECK(index.dim() == 1, "index_add: index must be 1-D, got ", describe(index));
  dim = wrap_dim(dim, dst.dim(), "index_add");
  Shape want = dst.shape();
  want[dim] = index.numel();
  PROMOE_CHECK(src.shape() == want, "index_add: source ", describe(src), " does not match ", shape_str(want));
  check_index_range(index, dst.shape()[dim], "index_add");
  if (src.numel()) be(dst).index_add(dst, dim, contiguous(index), src);
}

Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = clone(a);
  index_add_(out, dim, index, src);
  return out;
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  check_index_tensor(index, "gather");
  check_same_device(a, index, "gather");
  dim = wrap_dim(dim, a.dim(), "gather");
  PROMOE_CHECK(index.dim() == a.dim(), "gather: index ", describe(index), " and input ", describe(a),
               " need the same number of dims");
  for (int64_t i = 0; i < a.dim(); ++i)
    PROMOE_CHECK(i == dim || index.shape()[i] <= a.shape()[i], "gather: index ", describe(index), " larger than input ",
                 describe(a), " in dim ", i);
  check_index_range(index, a.shape()[dim], "gather");
  Tensor out = Tensor::empty(index.shape(), a.dtype(), a.device());
  if (out.numel()) be(a).gather(out, a, dim, contiguous(index));
  return out;
}

Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "scatter_add");
  check_same_device(a, index, "scatter_add");
  check_same_dtype(a, src, "scatter_add");
  dim = wrap_dim(dim, a.dim(), "scatter_add");
  PROMOE_CHECK(index.shape() == src.shape(), "scatter_add: index ", describe(index), " and source ", describe(src),
               " must have the same shape");
  PROMOE_CHECK(index.dim() == a.dim(), "scatter_add: index ", describe(index), " and input ", describe(a),
               " need the same number of dims");
  for (int64_t i = 0; i < a.dim(); ++i)
    PROMOE_CHECK(i == dim || index.shape()[i] <= a.shape()[i], "scatter_add: index ", describe(index),
                 " larger than input ", describe(a), " in dim ", i);
  check_index_range(index, a.shape()[dim], "scatter_add");
  Tensor out = clone(a);
  if (src.numel()) be(a).scatter_add(out, dim, contiguous(index), src);
  return out;
}

ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim, bool largest) {
  dim = wrap_dim(dim, a.dim(), "topk");
  PROMOE_CHECK(k >= 0 && k <= a.shape()[dim], "topk: k = ", k, " out of range for dim ", dim, " of ", describe(a));
  Tensor x = contiguous(move_to_last(a, dim));
  Shape shape = x.shape();
  shape.back() = k;
  ValuesIndices r{Tensor::empty(shape, a.dtype(), a.device()), Tensor::empty(shape, DType::I64, a.device())};
  if (r.values.numel()) be(a).topk(r.values, r.indices, x, k, largest);
  return {move_from_last(r.values, dim), move_from_last(r.indices, dim)};
}

ValuesIndices sort(const Tensor& a, int64_t dim, bool descending) {
  dim = wrap_dim(dim, a.dim(), "sort");
  Tensor x = contiguous(move_to_last(a, dim));
  ValuesIndices r{Tensor::empty(x.shape(), a.dtype(), a.device()), Tensor::empty(x.shape(), DType::I64, a.device())};
  if (r.values.numel()) be(a).sort(r.values, r.indices, x, descending);
  return {move_from_last(r.values, dim), move_from_last(r.indices, dim)};
}

// ---------------------------------------------------------------------------------------------
// Joining

Tensor cat(const std::vector<Tensor>& parts, int64_t dim) {
  PROMOE_CHECK(!parts.empty(), "cat: no tensors given");
  const Tensor& first = parts[0];
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (const Tensor& p : parts) {
    check_same_device(first, p, "cat");
    check_same_dtype(first, p, "cat");
    PROMOE_CHECK(p.dim() == first.dim(), "cat: ", describe(p), " and ", describe(first), " differ in rank");
    for (int64_t i = 0; i < p.dim(); ++i)
      PROMOE_CHECK(i == dim || p.shape()[i] == first.shape()[i], "cat: ", describe(p), " and ", describe(first),
                   " differ outside dim ", dim);
    shape[dim] += p.shape()[dim];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  int64_t at = 0;
  for (const Tensor& p : parts) {
    if (p.numel()) be(out).copy(narrow(out, dim, at, p.shape()[dim]), p);
    at += p.shape()[dim];
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& parts, int64_t dim) {
  PROMOE_CHECK(!parts.empty(), "stack: no tensors given");
  dim = wrap_dim(dim, parts[0].dim() + 1, "stack");
  std::vector<Tensor> u;
  for (const Tensor& p : parts) {
    PROMOE_CHECK(p.shape() == parts[0].shape(), "stack: ", describe(p), " and ", describe(parts[0]),
                 " differ in shape");
    u.push_back(unsqueeze(p, dim));
  }
  return cat(u, dim);
}

}  // namespace promoe::raw
