// `promoe latents pack` (latent_pack.h).
#include "io/latent_pack.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "io/atomic_file.h"
#include "io/latent_tree.h"
#include "io/latents.h"
#include "tensor/ops.h"

namespace promoe::io {

namespace fs = std::filesystem;

namespace {

LatentIndex pack_in_memory(const std::string& from, const std::string& out, const PackOptions& o) {
  LatentDataset d = load_latents(from);
  const std::vector<int64_t> labels = d.labels.to_vector<int64_t>();
  PROMOE_CHECK(!labels.empty(), "latents pack: ", from, " holds no latents");
  const int64_t largest = *std::max_element(labels.begin(), labels.end());
  PROMOE_CHECK(o.num_classes == 0 || largest < o.num_classes, "latents pack: ", from, " has label ", largest,
               ", outside --num-classes ", o.num_classes);
  LatentSetInfo info;
  info.channels = d.latents.size(1);
  info.height = d.latents.size(2);
  info.width = d.latents.size(3);
  info.num_classes = o.num_classes > 0 ? o.num_classes : largest + 1;
  info.scaling_factor = 1.0;
  LatentShardWriter writer(out, info, o.shard_size);
  const Tensor x = raw::contiguous(d.latents);
  const float* p = x.data<float>();
  for (size_t i = 0; i < labels.size(); ++i) writer.add(p + i * size_t(info.entry_floats()), nullptr, labels[i]);
  return writer.finish();
}

LatentIndex pack_streamed(const std::string& from, const std::string& out, const PackOptions& o) {
  std::unique_ptr<LatentSource> source = open_latent_source(from);
  const LatentSetInfo& info = source->info();
  LatentShardWriter writer(out, info, o.shard_size);
  std::vector<float> entry(size_t(info.entry_floats())), flipped(info.flips ? entry.size() : 0);
  for (int64_t i = 0; i < info.size; ++i) {
    source->read(i, 0, entry.data());
    if (info.flips) source->read(i, 1, flipped.data());
    writer.add(entry.data(), info.flips ? flipped.data() : nullptr, source->label(i));
  }
  if (auto* tree = dynamic_cast<const LatentNpzTree*>(source.get())) {
    std::string names;
    for (const std::string& c : tree->class_names()) names += c + "\n";
    write_file_atomic((fs::path(out) / "classes.txt").string(), names);
  }
  return writer.finish();
}

}  // namespace

LatentIndex pack_latents(const std::string& from, const std::string& out, const PackOptions& o) {
  std::error_code ec;
  PROMOE_CHECK(fs::exists(from, ec), "latents pack: ", from, ": no such file or directory");
  PROMOE_CHECK(!fs::equivalent(from, out, ec), "latents pack: --from and --out are the same folder");
  return is_streamed_latent_set(from) ? pack_streamed(from, out, o) : pack_in_memory(from, out, o);
}

}  // namespace promoe::io
