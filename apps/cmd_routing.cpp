// `promoe routing`: routing analytics of a checkpoint's EMA model on Fashion-MNIST or latents.
#include <cstdio>
#include <filesystem>

#include "apps/commands.h"
#include "apps/option_range.h"
#include "io/fashion_mnist.h"
#include "io/latent_source.h"
#include "io/latent_tree.h"
#include "io/latents.h"
#include "training/checkpoint.h"
#include "training/data_check.h"
#include "training/latent_batches.h"
#include "training/routing_report.h"

namespace promoe::apps {

void add_routing_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "routing", "Expert load, class x expert heatmaps (PNG, CSV), routing weights and prototype similarities");
  auto ckpt = std::make_shared<std::string>();
  auto data = std::make_shared<std::string>("fashion-mnist");
  auto out = std::make_shared<std::string>("routing");
  auto opt = std::make_shared<training::RoutingAnalysis>();
  auto threads = std::make_shared<int>(2);
  cmd->add_option("--checkpoint", *ckpt, "Checkpoint written by `promoe train`")->required();
  cmd->add_option("--data", *data,
                  "fashion-mnist (test split), a Fashion-MNIST directory, latents (.safetensors, .npy, dir), or a "
                  "streamed set (sharded folder, .latent.npz tree)")
      ->capture_default_str();
  cmd->add_option("--out", *out, "Output directory")->capture_default_str();
  ranged<int64_t>(cmd->add_option("--per-class", opt->per_class, "Examples of each class"), 1, kMaxExamples)
      ->capture_default_str();
  ranged(cmd->add_option("--sigma", opt->sigma, "Noise level of the inputs"), 0.0, 1.0)->capture_default_str();
  add_threads_option(cmd, *threads);
  cmd->callback([ckpt, data, out, opt, threads] {
    set_threads(*threads);
    training::CheckpointState state = training::read_checkpoint_state(*ckpt);
    training::ModelSpec spec = training::ModelSpec::from_file(state.model_config, *ckpt);
    auto model = spec.build(0);
    training::load_ema_weights(*ckpt, *model);
    Tensor images, labels;
    std::vector<std::string> names;
    const bool fashion_dir = std::filesystem::is_directory(*data) && io::fashion_mnist_available(*data);
    if (*data == "fashion-mnist" || fashion_dir) {
      io::LabelledImages fm = io::load_fashion_mnist(io::Split::Test, fashion_dir ? *data : io::kFashionMnistDir);
      images = fm.images;
      labels = fm.labels;
      for (const char* n : io::fashion_mnist_class_names()) names.push_back(n);
    } else if (io::is_streamed_latent_set(*data)) {  // the first per-class entries, at their posterior mean
      std::unique_ptr<io::LatentSource> source = io::open_latent_source(*data);
      training::LatentBatch b = training::latent_routing_examples(*source, uint64_t(source->info().size),
                                                                  spec.dit.num_classes, opt->per_class);
      images = b.x0;
      labels = b.labels;
      if (auto* tree = dynamic_cast<const io::LatentNpzTree*>(source.get())) names = tree->class_names();
    } else {
      io::LatentDataset l = io::load_latents(*data);
      images = l.latents;
      labels = l.labels;
    }
    training::check_data_fits_model(images, labels, spec.dit, *data);
    training::write_routing_report(training::analyse_routing(*model, spec, images, labels, *opt), *out, names);
    std::printf("wrote routing analytics of %s (step %lld) to %s/\n", ckpt->c_str(), (long long)state.step,
                out->c_str());
  });
}

}  // namespace promoe::apps
