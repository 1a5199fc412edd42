// Differentiable reductions and the matrix product.
#include <algorithm>

#include "autograd/ops.h"

namespace promoe {

namespace {
using Grads = std::vector<Tensor>;

// The reduced dims of a `rank`-dim tensor (empty = all), wrapped and sorted.
std::vector<int64_t> reduced_dims(std::vector<int64_t> dims, int64_t rank, const char* op) {
  if (dims.empty())
    for (int64_t i = 0; i < rank; ++i) dims.push_back(i);
  for (int64_t& d : dims) d = wrap_dim(d, rank, op);
  std::sort(dims.begin(), dims.end());
  return dims;
}

// Restores reduced dims as size 1 so that `g` broadcasts against the input again.
Tensor unsqueeze_reduced(Tensor g, const std::vector<int64_t>& dims, bool keepdim) {
  if (!keepdim)
    for (int64_t d : dims) g = raw::unsqueeze(g, d);
  return g;
}
}  // namespace

Tensor sum(const Tensor& a, std::vector<int64_t> dims, bool keepdim) {
  dims = reduced_dims(std::move(dims), a.dim(), "sum");
  Shape in = a.shape();
  return record(raw::sum(a, dims, keepdim), "sum", {a},
                [=](const Tensor& g) { return Grads{raw::expand(unsqueeze_reduced(g, dims, keepdim), in)}; });
}

Tensor mean(const Tensor& a, std::vector<int64_t> dims, bool keepdim) {
  dims = reduced_dims(std::move(dims), a.dim(), "mean");
  Shape in = a.shape();
  int64_t n = 1;
  for (int64_t d : dims) n *= in[d];
  return record(raw::reduce(ReduceOp::Mean, a, dims, keepdim), "mean", {a}, [=](const Tensor& g) {
    return Grads{raw::expand(raw::mul_scalar(unsqueeze_reduced(g, dims, keepdim), 1.0 / double(n)), in)};
  });
}

raw::ValuesIndices max(const Tensor& a, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, a.dim(), "max");
  raw::ValuesIndices r = raw::max_dim(a, dim, keepdim);
  Shape in = a.shape();
  Tensor idx = r.indices;
  r.values = record(r.values, "max", {a}, [=](const Tensor& g) {
    Tensor gi = raw::zeros(in, g.dtype(), g.device());
    Tensor i = keepdim ? idx : raw::unsqueeze(idx, dim);
    Tensor gk = keepdim ? g : raw::unsqueeze(g, dim);
    return Grads{raw::scatter_add(gi, dim, raw::contiguous(i), raw::contiguous(gk))};
  });
  return r;
}

Tensor amax(const Tensor& a, int64_t dim, bool keepdim) { return max(a, dim, keepdim).values; }
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) { return raw::argmax(a, dim, keepdim); }

Tensor matmul(const Tensor& a, const Tensor& b) {
  // 1-D operands become matrices through differentiable views, so the core handles >= 2-D only.
  PROMOE_CHECK(a.defined() && b.defined() && a.dim() >= 1 && b.dim() >= 1,
               "matmul: both arguments need at least one dim, got ", describe(a), " and ", describe(b));
  PROMOE_CHECK(a.size(-1) == b.size(b.dim() == 1 ? 0 : -2), "matmul: inner dims differ, ", describe(a), " @ ",
               describe(b));
  if (a.dim() == 1 && b.dim() == 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), {});  // dot
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1 && a.dim() >= 2) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  Tensor out = raw::matmul(a, b);
  if (!needs_grad({a, b})) return out;
  Tensor sa = a.detach(), sb = b.detach();
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(out, "matmul", {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    if (ra) ga = raw::sum_to(raw::matmul(g, raw::transpose(sb, -1, -2)), sa.shape());
    if (rb) {
      if (sb.dim() == 2) {  // fold batch dims: (K, rows) @ (rows, N)
        const int64_t K = sa.size(-1), N = g.size(-1);
        const int64_t rows = numel_of(Shape(sa.shape().begin(), sa.shape().end() - 1));  // g has the same rows
        gb = raw::matmul(raw::transpose(raw::reshape(sa, {rows, K}), 0, 1), raw::reshape(g, {rows, N}));
      } else {
        gb = raw::sum_to(raw::matmul(raw::transpose(sa, -1, -2), g), sb.shape());
      }
    }
    return Grads{ga, gb};
  });
}

}  // namespace promoe
