// `promoe latents pack`: a latent set (safetensors / .npy, a .latent.npz tree, or a sharded set)
// into the sharded format that `promoe train --data DIR` streams (docs/LATENTS.md).
#include <chrono>
#include <cstdio>

#include "apps/commands.h"
#include "apps/option_range.h"
#include "io/latent_pack.h"

namespace promoe::apps {

void add_latents_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("latents", "Latent data sets: convert to the sharded format");
  cmd->require_subcommand(1);
  auto* pack = cmd->add_subcommand("pack", "Write a sharded latent set (index.json + safetensors shards)");
  auto from = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<io::PackOptions>();
  pack->add_option("--from", *from, "latents .safetensors / .npy, a .latent.npz class tree, or a sharded set")
      ->required();
  pack->add_option("--out", *out, "Folder to write (must not hold an index.json yet)")->required();
  ranged<int64_t>(pack->add_option("--shard-size", o->shard_size, "Entries per shard"), 1, int64_t(1) << 24)
      ->capture_default_str();
  ranged<int64_t>(pack->add_option("--num-classes", o->num_classes,
                                   "Class count for .safetensors / .npy sources (0: largest label + 1)"),
                  0, int64_t(1) << 31)
      ->capture_default_str();
  pack->callback([from, out, o] {
    const auto start = std::chrono::steady_clock::now();
    io::LatentIndex index = io::pack_latents(*from, *out, *o);
    index.info.kind = "sharded latent set";
    index.info.path = *out;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s in %zu shards (%.1f s)\n", index.info.describe().c_str(), index.shards.size(), seconds);
  });
}

}  // namespace promoe::apps
