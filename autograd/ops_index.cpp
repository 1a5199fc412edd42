// Differentiable indexing: gradients flow to the data operands, never to the indices.
#include "autograd/ops.h"

namespace promoe {

namespace {
using Grads = std::vector<Tensor>;
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  Tensor out = raw::index_select(a, dim, index);
  Shape in = a.shape();
  Tensor idx = index.detach();
  return record(out, "index_select", {a}, [=](const Tensor& g) {
    return Grads{raw::index_add(raw::zeros(in, g.dtype(), g.device()), dim, idx, g)};
  });
}

Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = raw::index_add(a, dim, index, src);
  Tensor idx = index.detach();
  bool rs = src.requires_grad();
  return record(out, "index_add", {a, src}, [=](const Tensor& g) {
    return Grads{g, rs ? raw::index_select(g, dim, idx) : Tensor()};
  });
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  Tensor out = raw::gather(a, dim, index);
  Shape in = a.shape();
  Tensor idx = raw::contiguous(index).detach();
  return record(out, "gather", {a}, [=](const Tensor& g) {
    return Grads{raw::scatter_add(raw::zeros(in, g.dtype(), g.device()), dim, idx, raw::contiguous(g))};
  });
}

Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = raw::scatter_add(a, dim, index, src);
  Tensor idx = raw::contiguous(index).detach();
  bool rs = src.requires_grad();
  return record(out, "scatter_add", {a, src}, [=](const Tensor& g) {
    return Grads{g, rs ? raw::gather(g, dim, idx) : Tensor()};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  PROMOE_CHECK(weight.dim() == 2, "embedding: weight must be (V, D), got ", describe(weight));
  Shape shape = indices.shape();
  shape.push_back(weight.size(1));
  return reshape(index_select(weight, 0, raw::reshape(indices, {-1})), shape);
}

namespace {
raw::ValuesIndices ordered(const Tensor& a, raw::ValuesIndices r, int64_t dim, const char* name) {
  dim = wrap_dim(dim, a.dim(), name);
  Shape in = a.shape();
  Tensor idx = raw::contiguous(r.indices);
  r.values = record(r.values, name, {a}, [=](const Tensor& g) {
    return Grads{raw::scatter_add(raw::zeros(in, g.dtype(), g.device()), dim, idx, raw::contiguous(g))};
  });
  return r;
}
}  // namespace

raw::ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim, bool largest) {
  return ordered(a, raw::topk(a, k, dim, largest), dim, "topk");
}

raw::ValuesIndices sort(const Tensor& a, int64_t dim, bool descending) {
  return ordered(a, raw::sort(a, dim, descending), dim, "sort");
}

}  // namespace promoe
