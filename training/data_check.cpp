// Data set against model checks (data_check.h).
#include "training/data_check.h"

namespace promoe::training {

void check_data_fits_model(const Tensor& images, const Tensor& labels, const nn::DiTConfig& cfg,
                           const std::string& source) {
  PROMOE_CHECK(images.defined() && images.dim() == 4, "data ", source, ": expected images (N, C, H, W), got ",
               images.defined() ? describe(images) : "nothing");
  PROMOE_CHECK(
      labels.defined() && labels.dim() == 1 && labels.dtype() == DType::I64 && labels.size(0) == images.size(0),
      "data ", source, ": expected ", images.size(0), " int64 labels, got ",
      labels.defined() ? describe(labels) : "nothing");
  PROMOE_CHECK(images.size(0) > 0, "data ", source, " holds no samples");
  PROMOE_CHECK(
      images.size(1) == cfg.in_channels && images.size(2) == cfg.input_size && images.size(3) == cfg.input_size,
      "data ", source, " has samples of shape [", images.size(1), ", ", images.size(2), ", ", images.size(3),
      "] but the model expects (", cfg.in_channels, ", ", cfg.input_size, ", ", cfg.input_size, ")");
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  for (size_t i = 0; i < y.size(); ++i)
    PROMOE_CHECK(y[i] >= 0 && y[i] < cfg.num_classes, "data ", source, ": label ", y[i], " at index ", i,
                 " is not a class of the model, [0, ", cfg.num_classes, ")");
}

}  // namespace promoe::training
