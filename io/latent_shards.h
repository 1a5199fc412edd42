// The sharded latent format: a folder with
//   index.json   {"format": "promoe-latent-shards", "version": 1, "shape": [C, H, W],
//                 "dtype": "F32", "moments": bool, "flips": bool, "num_classes": K,
//                 "scaling_factor": s (moments only), "size": N,
//                 "shards": [{"file": "shard-00000.safetensors", "entries": n0}, ...]}
//   shard-*.safetensors, each with `latents` F32 [n, C, H, W], `labels` I64 [n] and, when flips,
//                 `latents_flip` F32 [n, C, H, W].
// Shards are memory-mapped read-only and a read copies one entry, so the process's anonymous memory
// does not grow with the set. Everything is validated on open: index fields and their ranges, every
// size overflow-checked, every shard's header, shapes and extent against the index and the file,
// and every label in [0, K).
#pragma once
#include <string>
#include <vector>

#include "io/latent_source.h"
#include "io/mapped_file.h"

namespace promoe::io {

struct LatentShardEntry {
  std::string file;  // a plain file name inside the folder
  int64_t entries = 0;
};

struct LatentIndex {
  LatentSetInfo info;  // kind and path filled by the opener
  std::vector<LatentShardEntry> shards;
};

// Parses and validates index.json text; `source` names it in messages.
LatentIndex parse_latent_index(const std::string& text, const std::string& source);
std::string latent_index_json(const LatentIndex& index);

// Where a shard's tensors lie: byte offsets from the start of the file.
struct ShardLayout {
  uint64_t latents = 0, latents_flip = 0, labels = 0;
};

// Validates a shard's safetensors header (bytes: the whole file) against its index entry.
ShardLayout parse_shard_header(const uint8_t* bytes, uint64_t size, const LatentIndex& index, size_t shard,
                               const std::string& source);

class ShardedLatentSet final : public LatentSource {
 public:
  explicit ShardedLatentSet(const std::string& dir);
  const LatentSetInfo& info() const override { return index_.info; }
  int64_t label(int64_t index) const override;
  void read(int64_t index, int variant, float* out) const override;

 private:
  struct Shard {
    MappedFile file;
    ShardLayout layout;
    int64_t first = 0;  // global index of its entry 0
  };
  const Shard& locate(int64_t index, int64_t* local) const;
  LatentIndex index_;
  std::vector<Shard> shards_;
};

// Writes a sharded set: entries are appended, each shard is written atomically when full and
// index.json atomically by finish(), so a folder with an index.json is always complete.
class LatentShardWriter {
 public:
  // `info` gives shape, dtype flags, num_classes and scaling factor; shard_size entries per shard.
  // Refuses a folder that already holds index.json.
  LatentShardWriter(const std::string& dir, const LatentSetInfo& info, int64_t shard_size);
  // entry: entry_floats() floats; flipped: the same, required when info.flips, else null.
  void add(const float* entry, const float* flipped, int64_t label);
  // Flushes the last shard and writes index.json; returns the index written.
  LatentIndex finish();

 private:
  void flush();
  std::string dir_;
  LatentIndex index_;
  int64_t shard_size_;
  std::vector<float> latents_, flips_;
  std::vector<int64_t> labels_;
  bool finished_ = false;
};

}  // namespace promoe::io
