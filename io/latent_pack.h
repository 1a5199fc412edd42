// Converting a latent set into the sharded format (io/latent_shards.h), behind `promoe latents
// pack`: from an in-memory set of io/latents.h (plain latents, no flips) or from a streamed set (a
// .latent.npz tree or another sharded set: moments and flips kept as they are). Reads and writes
// one shard at a time; a tree's class names go to DIR/classes.txt.
#pragma once
#include <cstdint>
#include <string>

#include "io/latent_shards.h"

namespace promoe::io {

struct PackOptions {
  int64_t shard_size = 1024;  // entries per shard
  int64_t num_classes = 0;    // in-memory sources: the class count (0: largest label + 1)
};

LatentIndex pack_latents(const std::string& from, const std::string& out, const PackOptions& options = {});

}  // namespace promoe::io
