// `promoe decode`: latents in the diffusion model's space (as `promoe sample --out x.safetensors`
// writes them) to images through an AutoencoderKL read from a diffusers model folder: a PNG grid,
// an ADM-convention .npz evaluation set, or the float images (.safetensors).
#include <chrono>
#include <cstdio>

#include "apps/commands.h"
#include "apps/image_output.h"
#include "apps/option_range.h"
#include "apps/vae_decode.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "tensor/ops.h"

namespace promoe::apps {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Latents {
  Tensor latents, labels;  // labels (N) i64 or undefined
};

// A .safetensors file with `samples` (what `promoe sample` writes) or `latents`, and optionally
// `labels`; or an .npy array.
Latents read_latents(const std::string& path) {
  if (ends_with(path, ".npy")) return {io::read_npy(path), Tensor()};
  PROMOE_CHECK(ends_with(path, ".safetensors"), "decode: --latents ", path, " must be a .safetensors or .npy file");
  io::SafeTensors f = io::read_safetensors(path);
  const char* name = f.has("samples") ? "samples" : "latents";
  PROMOE_CHECK(f.has(name), path, ": no tensor named samples or latents");
  Latents l{f.get(name), f.has("labels") ? f.get_index("labels") : Tensor()};
  PROMOE_CHECK(!l.labels.defined() || (l.labels.dim() == 1 && l.labels.size(0) == l.latents.size(0)), path, ": labels ",
               describe(l.labels), " do not match ", name, " ", describe(l.latents));
  return l;
}

}  // namespace

void add_decode_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("decode", "Decode latents to images with a Stable Diffusion VAE (diffusers folder)");
  struct Args {
    std::string vae, latents, out = "grid.png", device = "cpu";
    int64_t batch = 4, columns = 8;
    int threads = 2;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--vae", a->vae, "diffusers AutoencoderKL folder (config.json, diffusion_pytorch_model.safetensors)")
      ->required();
  cmd->add_option("--latents", a->latents, "Latents in the model's space: .safetensors (samples or latents) or .npy")
      ->required();
  cmd->add_option("--out", a->out, "Output: .png grid, .npz evaluation set (ADM uint8), or .safetensors float images")
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--batch", a->batch, "Latents per decoder call"), 1, kMaxBatch)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--columns", a->columns, "Images per row of a PNG grid"), 1, 1024)
      ->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->callback([a] {
    set_threads(a->threads);
    PROMOE_CHECK(is_image_output(a->out), "decode: --out ", a->out, " must end in .png, .npz or .safetensors");
    const Device device = parse_device(a->device);
    const Latents in = read_latents(a->latents);
    const auto vae = load_decoder(a->vae, device);
    const auto start = std::chrono::steady_clock::now();
    const Tensor images = vae::decode_model_latents(*vae, in.latents, a->batch);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_images(a->out, images, in.labels, a->columns);
    std::printf("decoded %lld latents %s to %s images in %.2f s; wrote %s\n", (long long)images.size(0),
                shape_str(in.latents.shape()).c_str(), shape_str(images.shape()).c_str(), seconds, a->out.c_str());
  });
}

}  // namespace promoe::apps
