// The official ProMoE latent cache as its preprocessing writes it (preprocess/preprocess_vae.py):
// ROOT/<class folder>/<image>.latent.npz, each holding `latent` and `latent_flip`, float32
// (2C, h, w): the SD-VAE posterior's parameters (C means, then C log-variances) of the image and of
// its horizontal mirror. Classes are the sorted names of the folders that hold .latent.npz files
// (the official loader's class_to_idx), or the lines of ROOT/classes.txt when it exists (then every
// such folder must be listed). The tree is listed once on open; each read inflates one file.
#pragma once
#include <string>
#include <vector>

#include "io/latent_source.h"

namespace promoe::io {

class LatentNpzTree final : public LatentSource {
 public:
  explicit LatentNpzTree(const std::string& root);
  const LatentSetInfo& info() const override { return info_; }
  int64_t label(int64_t index) const override;
  void read(int64_t index, int variant, float* out) const override;

  const std::vector<std::string>& class_names() const { return classes_; }
  std::string entry_path(int64_t index) const;

 private:
  LatentSetInfo info_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;  // relative to the root: "<class>/<name>"
  std::vector<int32_t> labels_;
};

}  // namespace promoe::io
