// AutoencoderKL against diffusers: each committed model folder under tests/data/vae (written by
// tests/twin/make_vae_goldens.py) loads, and its encoder's posterior and its decoder's output match
// what diffusers computed for the same inputs within float32 tolerance.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autograd/node.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "vae/load.h"

using namespace promoe;

namespace {

const std::filesystem::path kVaeData = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / "vae";

// max |got - want| / max |want|
double relative_error(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = raw::to(got, Device::cpu()).to_vector<double>(), w = want.to_vector<double>();
  double err = 0, scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    err = std::max(err, std::abs(g[i] - w[i]));
    scale = std::max(scale, std::abs(w[i]));
  }
  return err / scale;
}

void check_folder(const std::string& name, Device device) {
  CAPTURE(name);
  CAPTURE(device.str());
  const std::filesystem::path dir = kVaeData / name;
  auto model = vae::load_vae(dir.string());
  model->to(device);
  const io::SafeTensors golden = io::read_safetensors((dir / "golden.safetensors").string());
  NoGradGuard no_grad;
  const vae::Posterior post = model->encode(raw::to(golden.get("x"), device));
  const Tensor decoded = model->decode(raw::to(golden.get("z"), device));
  // diffusers' own float32-vs-float64 error is about 1e-6 of the outputs' scale (the file's headroom).
  const double tol = 2e-5;
  const double e_mean = relative_error(post.mean, golden.get("mean")),
               e_logvar = relative_error(post.logvar, golden.get("logvar")),
               e_dec = relative_error(decoded, golden.get("decoded"));
  MESSAGE(name, " on ", device.str(), ": relative error mean ", e_mean, ", logvar ", e_logvar, ", decoded ", e_dec,
          " (diffusers' f32 vs f64: ", golden.metadata("headroom"), ")");
  CHECK(e_mean < tol);
  CHECK(e_logvar < tol);
  CHECK(e_dec < tol);
}

}  // namespace

TEST_CASE("AutoencoderKL folders written by diffusers encode and decode as diffusers does") {
  check_folder("two_blocks", Device::cpu());
  check_folder("old_names", Device::cpu());
  if (cuda_available()) {
    check_folder("two_blocks", Device::cuda(0));
    check_folder("old_names", Device::cuda(0));
  } else {
    MESSAGE("no CUDA GPU: the CUDA run of the VAE goldens is skipped");
  }
}

TEST_CASE("latents in the diffusion model's space are divided by scaling_factor before decoding, in batches") {
  for (const char* name : {"two_blocks", "old_names"}) {
    CAPTURE(name);
    auto model = vae::load_vae((kVaeData / name).string());
    const io::SafeTensors latents =
        io::read_safetensors((kVaeData / (std::string(name) + "_latents.safetensors")).string());
    const io::SafeTensors golden = io::read_safetensors((kVaeData / name / "golden.safetensors").string());
    const Tensor images = vae::decode_model_latents(*model, latents.get("samples"), 1);
    CHECK(relative_error(images, golden.get("decoded")) < 2e-5);
  }
}

TEST_CASE("the golden folders' configs are read as diffusers wrote them") {
  const vae::VaeConfig a = vae::read_vae_config((kVaeData / "two_blocks" / "config.json").string());
  CHECK(a.block_out_channels == std::vector<int64_t>{16, 32});
  CHECK(a.norm_num_groups == 8);
  CHECK(a.downsample_factor() == 2);
  const vae::VaeConfig b = vae::read_vae_config((kVaeData / "old_names" / "config.json").string());
  CHECK(b.block_out_channels == std::vector<int64_t>{16, 16, 32});
  CHECK(b.layers_per_block == 2);
  CHECK(b.in_channels == 4);
  CHECK(b.out_channels == 2);
  CHECK(b.latent_channels == 3);
  CHECK(b.scaling_factor == 0.5);
  CHECK(b.shift_factor == 0.0);  // null in the file
  CHECK(b.downsample_factor() == 4);
}
