// Differentiable views, layout changes, dtype/device moves, joining and splitting.
#include "autograd/ops.h"

namespace promoe {

Tensor reshape(const Tensor& a, Shape shape) {
  Shape in = a.shape();
  return record(raw::reshape(a, std::move(shape)), "reshape", {a},
                [in](const Tensor& g) { return std::vector<Tensor>{raw::reshape(g, in)}; });
}

Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim) {
  if (a.dim() == 0) return reshape(a, {1});
  start_dim = wrap_dim(start_dim, a.dim(), "flatten");
  end_dim = wrap_dim(end_dim, a.dim(), "flatten");
  PROMOE_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " after end_dim ", end_dim);
  Shape shape(a.shape().begin(), a.shape().begin() + start_dim);
  int64_t n = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) n *= a.shape()[d];
  shape.push_back(n);
  shape.insert(shape.end(), a.shape().begin() + end_dim + 1, a.shape().end());
  return reshape(a, shape);
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  Tensor out = raw::permute(a, dims);
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], a.dim(), "permute")] = int64_t(i);
  return record(out, "permute", {a},
                [inverse](const Tensor& g) { return std::vector<Tensor>{raw::permute(g, inverse)}; });
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  return record(raw::transpose(a, d0, d1), "transpose", {a},
                [d0, d1](const Tensor& g) { return std::vector<Tensor>{raw::transpose(g, d0, d1)}; });
}

Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length) {
  Tensor out = raw::narrow(a, dim, start, length);
  Shape in = a.shape();
  DType dt = a.dtype();
  Device dev = a.device();
  return record(out, "narrow", {a}, [=](const Tensor& g) {
    Tensor gi = raw::zeros(in, dt, dev);
    raw::copy_(raw::narrow(gi, dim, start, length), g);
    return std::vector<Tensor>{gi};
  });
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  dim = wrap_dim(dim, a.dim(), "select");
  PROMOE_CHECK(index >= 0 && index < a.shape()[dim], "select: index ", index, " out of range for dim ", dim, " of ",
               describe(a));
  return squeeze(narrow(a, dim, index, 1), dim);
}

Tensor expand(const Tensor& a, const Shape& shape) {
  Shape in = a.shape();
  return record(raw::expand(a, shape), "expand", {a},
                [in](const Tensor& g) { return std::vector<Tensor>{raw::sum_to(g, in)}; });
}

Tensor squeeze(const Tensor& a, int64_t dim) {
  Shape in = a.shape();
  return record(raw::squeeze(a, dim), "squeeze", {a},
                [in](const Tensor& g) { return std::vector<Tensor>{raw::reshape(g, in)}; });
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  Shape in = a.shape();
  return record(raw::unsqueeze(a, dim), "unsqueeze", {a},
                [in](const Tensor& g) { return std::vector<Tensor>{raw::reshape(g, in)}; });
}

Tensor contiguous(const Tensor& a) {
  return record(raw::contiguous(a), "contiguous", {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor to(const Tensor& a, DType dtype) {
  DType in = a.dtype();
  return record(raw::to(a, dtype), "to_dtype", {a},
                [in](const Tensor& g) { return std::vector<Tensor>{raw::to(g, in)}; });
}

Tensor to(const Tensor& a, Device device) {
  Device in = a.device();
  return record(raw::to(a, device), "to_device", {a},
                [in](const Tensor& g) { return std::vector<Tensor>{raw::to(g, in)}; });
}

Tensor cat(const std::vector<Tensor>& parts, int64_t dim) {
  Tensor out = raw::cat(parts, dim);
  int64_t d = wrap_dim(dim, parts[0].dim(), "cat");
  std::vector<int64_t> sizes;
  for (const Tensor& p : parts) sizes.push_back(p.shape()[d]);
  return record(out, "cat", parts, [d, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t at = 0;
    for (int64_t s : sizes) {
      grads.push_back(raw::narrow(g, d, at, s));
      at += s;
    }
    return grads;
  });
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

std::vector<Tensor> split(const Tensor& a, int64_t size, int64_t dim) {
  PROMOE_CHECK(size > 0, "split: size must be positive, got ", size);
  dim = wrap_dim(dim, a.dim(), "split");
  std::vector<Tensor> parts;
  for (int64_t at = 0; at < a.shape()[dim]; at += size)
    parts.push_back(narrow(a, dim, at, std::min(size, a.shape()[dim] - at)));
  return parts;
}

std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  PROMOE_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks);
  dim = wrap_dim(dim, a.dim(), "chunk");
  return split(a, std::max<int64_t>(1, (a.shape()[dim] + chunks - 1) / chunks), dim);
}

}  // namespace promoe
