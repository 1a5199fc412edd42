// Choosing the reader of a streamed latent set (latent_source.h).
#include "io/latent_source.h"

#include <filesystem>

#include "io/latent_shards.h"
#include "io/latent_tree.h"
#include "tensor/error.h"

namespace promoe::io {

namespace fs = std::filesystem;

bool is_streamed_latent_set(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (!fs::is_directory(p, ec)) return false;
  if (fs::exists(p / "index.json", ec)) return true;
  return !fs::exists(p / "latents.safetensors", ec) && !fs::exists(p / "latents.npy", ec);
}

std::unique_ptr<LatentSource> open_latent_source(const std::string& path) {
  std::error_code ec;
  PROMOE_CHECK(fs::is_directory(path, ec), "latent set ", path, ": not a folder");
  if (fs::exists(fs::path(path) / "index.json", ec)) return std::make_unique<ShardedLatentSet>(path);
  return std::make_unique<LatentNpzTree>(path);
}

}  // namespace promoe::io
