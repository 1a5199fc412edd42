// The checks a data set passes before a model indexes into it: at least one sample, samples of
// the model's (C, H, W), labels in [0, num_classes). Shared by `promoe train` and `promoe routing`,
// so both refuse the same files with the same message.
#pragma once
#include <string>

#include "nn/dit.h"

namespace promoe::training {

// images (N, C, H, W) f32, labels (N) i64 on the CPU; `source` names the data in messages.
void check_data_fits_model(const Tensor& images, const Tensor& labels, const nn::DiTConfig& cfg,
                           const std::string& source);

}  // namespace promoe::training
