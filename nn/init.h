// Parameter initialisers (in place, under no-grad), matching torch.nn.init.
#pragma once
#include "tensor/random.h"

namespace promoe::nn::init {

// U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); fan_in = size(1) * receptive field, fan_out = size(0) * rf.
void xavier_uniform(Tensor& w, Generator& gen);
void normal(Tensor& w, Generator& gen, double std);
void zeros(Tensor& w);

}  // namespace promoe::nn::init
