// Generator draws through the device backend's Philox kernels.
#include "tensor/random.h"

#include <cmath>

#include "tensor/backend.h"
#include "tensor/ops.h"

namespace promoe {

Tensor Generator::uniform(const Shape& shape, double lo, double hi, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.numel()) backend_for(device).uniform(t, seed_, take(t.numel()), lo, hi);
  return t;
}

Tensor Generator::normal(const Shape& shape, double mean, double std, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.numel()) backend_for(device).normal(t, seed_, take(t.numel()), mean, std);
  return t;
}

Tensor Generator::randint(const Shape& shape, int64_t low, int64_t high, Device device) {
  PROMOE_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Tensor u = uniform(shape, 0, 1, DType::F64, Device::cpu());  // (0, 1]
  Tensor out = Tensor::empty(shape, DType::I64, Device::cpu());
  const double* pu = u.data<double>();
  int64_t* po = out.data<int64_t>();
  for (int64_t i = 0; i < out.numel(); ++i)
    po[i] = std::min(high - 1, low + int64_t(std::floor((1.0 - pu[i]) * double(high - low))));
  return raw::to(out, device);
}

}  // namespace promoe
