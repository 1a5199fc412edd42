// Finiteness of model state: a diverged update (a huge learning rate, an exploding gradient)
// leaves NaN or infinite weights, and such a state must never be saved as, or loaded from, a
// checkpoint. One pass per check: the sum of squares in double of the float tensors on their own
// device is finite exactly when every element is (an f32 square cannot overflow a double).
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"

namespace promoe::training {

bool all_finite(const std::vector<Tensor>& tensors);

// The name of the first tensor holding a NaN or an infinity; empty when every one is finite.
std::string first_non_finite(const NamedTensors& tensors);

}  // namespace promoe::training
