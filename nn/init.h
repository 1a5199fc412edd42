// Parameter initialisers (in place, under no-grad), matching torch.nn.init.
#pragma once
#include "tensor/random.h"

namespace promoe::nn::init {

// U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); fan_in = size(1) * receptive field, fan_out = size(0) * rf.
void xavier_uniform(Tensor& w, Generator& gen);
void normal(Tensor& w, Generator& gen, double std);
// U(-b, b) with b = 1 / sqrt(fan_in), fan_in = size(1) * receptive field (1-D: `fan_in` given):
// PyTorch's default for convolution weights (kaiming_uniform with a = sqrt(5)) and their biases.
void fan_in_uniform(Tensor& w, Generator& gen, int64_t fan_in);
void zeros(Tensor& w);

}  // namespace promoe::nn::init
