// Initialisers write new values into the parameter's storage, keeping its identity.
#include "nn/init.h"

#include <cmath>

#include "tensor/ops.h"

namespace promoe::nn::init {

void xavier_uniform(Tensor& w, Generator& gen) {
  PROMOE_CHECK(w.dim() >= 2, "xavier_uniform: needs at least 2 dims, got ", describe(w));
  int64_t rf = 1;
  for (int64_t d = 2; d < w.dim(); ++d) rf *= w.size(d);
  double a = std::sqrt(6.0 / double(w.size(1) * rf + w.size(0) * rf));
  raw::copy_(w, gen.uniform(w.shape(), -a, a, w.dtype(), w.device()));
}

void normal(Tensor& w, Generator& gen, double std) {
  raw::copy_(w, gen.normal(w.shape(), 0.0, std, w.dtype(), w.device()));
}

void fan_in_uniform(Tensor& w, Generator& gen, int64_t fan_in) {
  PROMOE_CHECK(fan_in > 0, "fan_in_uniform: fan_in ", fan_in, " of ", describe(w), " must be positive");
  const double b = 1.0 / std::sqrt(double(fan_in));
  raw::copy_(w, gen.uniform(w.shape(), -b, b, w.dtype(), w.device()));
}

void zeros(Tensor& w) { raw::fill_(w, 0.0); }

}  // namespace promoe::nn::init
