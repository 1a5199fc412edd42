// Linear and Mlp.
#include "nn/layers.h"

#include "nn/functional.h"
#include "nn/init.h"
#include "tensor/ops.h"

namespace promoe::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, Generator& gen)
    : weight(register_parameter("weight", raw::zeros({out, in}))), bias(nullptr) {
  init::xavier_uniform(weight, gen);
  if (has_bias) bias = &register_parameter("bias", raw::zeros({out}));
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias ? *bias : Tensor()); }

Mlp::Mlp(int64_t dim, int64_t hidden, Generator& gen, const char* first, const char* second) {
  fc1 = register_module(first, std::make_shared<Linear>(dim, hidden, true, gen));
  fc2 = register_module(second, std::make_shared<Linear>(hidden, dim, true, gen));
}

Tensor Mlp::forward(const Tensor& x) const {
  return fc2->forward(linear_gelu(x, fc1->weight, *fc1->bias));  // fc1 always has a bias
}

}  // namespace promoe::nn
