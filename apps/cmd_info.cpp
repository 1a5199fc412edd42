// `promoe info`: a model's effective configuration and its total and activated parameter counts,
// or (--data) the size and shape of a data set train reads.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/model_options.h"
#include "io/fashion_mnist.h"
#include "io/latent_source.h"
#include "io/latents.h"
#include "moe/model.h"
#include "tensor/shape.h"

namespace promoe::apps {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print a model's configuration and parameter counts");
  auto preset = std::make_shared<std::string>("ProMoE-Tiny");
  auto edits = std::make_shared<training::ConfigEdits>();
  auto list = std::make_shared<bool>(false);
  auto data = std::make_shared<std::string>();
  cmd->add_option("--preset", *preset, "Model preset")->capture_default_str();
  add_config_edit_options(cmd, *edits);
  cmd->add_flag("--list", *list, "List the presets");
  cmd->add_option("--data", *data, "Describe a data set instead: its size and shape (any format train reads)");
  cmd->callback([preset, edits, list, data] {
    if (!data->empty()) {
      const std::string fm_dir = *data == "fashion-mnist" ? io::kFashionMnistDir : *data;
      if (io::fashion_mnist_available(fm_dir, io::Split::Train)) {  // what train reads first, as it does
        const Tensor labels = io::load_fashion_mnist(io::Split::Train, fm_dir).labels;
        std::printf("Fashion-MNIST %s: %lld training images [1, %lld, %lld] (28x28 padded), %lld classes\n",
                    fm_dir.c_str(), (long long)labels.size(0), (long long)io::kFashionMnistSize,
                    (long long)io::kFashionMnistSize, (long long)io::kFashionMnistClasses);
      } else if (io::is_streamed_latent_set(*data)) {
        std::printf("%s\n", io::open_latent_source(*data)->info().describe().c_str());
      } else {
        io::LatentDataset d = io::load_latents(*data);
        const Shape& s = d.latents.shape();
        std::printf("latents %s: %lld entries of latents %s\n", data->c_str(), (long long)s[0],
                    shape_str(Shape(s.begin() + 1, s.end())).c_str());
      }
      return;
    }
    if (*list) {
      for (const std::string& n : moe::preset_names()) std::printf("%s\n", n.c_str());
      return;
    }
    training::ModelSpec spec = training::edited_spec(*preset, *edits);
    auto model = spec.build(0);
    std::printf("preset %s%s\nconfig %s\n", preset->c_str(), edits->empty() ? "" : " (edited)", spec.to_json().c_str());
    // The total counts pos_embed, as the official code's count does.
    const int64_t total = model->num_parameters() + model->pos_embed.numel();
    std::printf("parameters: total %.2fM, activated %.2fM (%lld, %lld)\n", double(total) / 1e6,
                double(model->activated_parameters()) / 1e6, (long long)total,
                (long long)model->activated_parameters());
  });
}

}  // namespace promoe::apps
