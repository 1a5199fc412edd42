// Latent data sets read entry by entry rather than loaded whole: the sharded on-disk format
// (io/latent_shards.h, a folder with index.json and memory-mapped safetensors shards) and the
// official ProMoE latent cache (io/latent_tree.h, class folders of per-image .latent.npz files).
// An entry is either a plain latent (C, H, W), the model's input as is, or the VAE posterior's
// moments (2C, H, W): C means then C log-variances, from which a training sample is drawn. Either
// may also hold a horizontally flipped copy of the image's entry (variant 1).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace promoe::io {

// diffusers' SD-VAE latent scaling, used by the official training script.
inline constexpr double kSdVaeScalingFactor = 0.18215;

struct LatentSetInfo {
  std::string kind;  // "sharded latent set" or "latent npz tree"
  std::string path;
  int64_t size = 0;                             // entries
  int64_t channels = 0, height = 0, width = 0;  // of one stored entry (2C for moments)
  bool moments = false;                         // entries are posterior moments (mean, logvar)
  bool flips = false;                           // each entry also has a flipped variant
  int64_t num_classes = 0;                      // labels lie in [0, num_classes)
  double scaling_factor = kSdVaeScalingFactor;  // moments: model input = posterior sample * this

  int64_t entry_floats() const { return channels * height * width; }
  int64_t sample_channels() const { return moments ? channels / 2 : channels; }
  // "sharded latent set DIR: 12 entries of posterior moments [8, 4, 4] (samples [4, 4, 4]), with
  // flips, 10 classes"
  std::string describe() const;
};

class LatentSource {
 public:
  virtual ~LatentSource() = default;
  virtual const LatentSetInfo& info() const = 0;
  // The label of entry `index` in [0, info().size).
  virtual int64_t label(int64_t index) const = 0;
  // Copies variant `variant` of entry `index` (0: as stored; 1: the flipped copy, when
  // info().flips) into out, entry_floats() floats in (C, H, W) order.
  virtual void read(int64_t index, int variant, float* out) const = 0;
};

// A folder holding index.json (a sharded set), or a folder of class folders of .latent.npz files
// that holds no latents.safetensors / latents.npy (those are the in-memory formats of io/latents.h).
bool is_streamed_latent_set(const std::string& path);

// Opens either kind, validating it; throws promoe::Error with a one-line message.
std::unique_ptr<LatentSource> open_latent_source(const std::string& path);

}  // namespace promoe::io
