// Basic layers: Linear (PyTorch (out, in) weight layout) and the GELU-tanh Mlp used by dense DiT
// blocks (fc1/fc2) and by experts (up_proj/down_proj).
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace promoe::nn {

class Linear : public Module {
 public:
  // Xavier-uniform weight, zero bias (the DiT initialisation of every nn.Linear).
  Linear(int64_t in, int64_t out, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) const;

  Tensor& weight;  // (out, in)
  Tensor* bias;    // (out) or null
};

// Linear(D -> hidden) -> GELU(tanh) -> Linear(hidden -> D), with configurable layer names.
class Mlp : public Module {
 public:
  Mlp(int64_t dim, int64_t hidden, Generator& gen, const char* first = "fc1", const char* second = "fc2");
  Tensor forward(const Tensor& x) const;

  std::shared_ptr<Linear> fc1, fc2;
};

}  // namespace promoe::nn
