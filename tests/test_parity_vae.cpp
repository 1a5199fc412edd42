// AutoencoderKL against diffusers: each committed model folder under tests/data/vae (written by
// tests/twin/make_vae_goldens.py) loads, and its encoder's posterior and its decoder's output match
// what diffusers computed for the same inputs within float32 tolerance.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "autograd/node.h"
#include "io/image_read.h"
#include "io/image_resample.h"
#include "io/npz.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "vae/encode_images.h"
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

TEST_CASE("images encode to the posterior parameters the official preprocessing stores") {
  // Each tree image (tests/data/images/tree) read, ADM centre-cropped to 16 and encoded with its
  // mirror image, against diffusers' latent_dist.parameters of the same image through Pillow.
  const std::filesystem::path tree = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / "images" / "tree";
  auto model = vae::load_vae((kVaeData / "two_blocks").string());
  const io::SafeTensors golden = io::read_safetensors((kVaeData / "two_blocks" / "encode_golden.safetensors").string());
  std::vector<std::string> names;
  std::vector<io::Image> images;
  for (const auto& [key, t] : golden.tensors) {
    const std::string suffix = ".latent";
    if (key.rfind("npz/", 0) != 0 && key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(key.substr(0, key.size() - suffix.size()));
      images.push_back(io::adm_center_crop(io::read_rgb_image((tree / names.back()).string()), 16));
    }
  }
  REQUIRE(names.size() == 9);
  const vae::EncodedImages enc = vae::encode_with_flip(*model, images);
  CHECK(enc.latent.shape() == Shape{9, 8, 8, 8});
  double worst = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    CAPTURE(names[i]);
    const double e = relative_error(raw::select(enc.latent, 0, int64_t(i)), golden.get(names[i] + ".latent"));
    const double ef =
        relative_error(raw::select(enc.latent_flip, 0, int64_t(i)), golden.get(names[i] + ".latent_flip"));
    CHECK(e < 2e-5);
    CHECK(ef < 2e-5);
    worst = std::max({worst, e, ef});
  }
  MESSAGE("encode of 9 images through the ADM crop: largest relative error ", worst,
          " (diffusers' f32 vs f64: ", golden.metadata("headroom"), ")");
}

TEST_CASE("a folder holding only the fp16 variant loads, converted to float32 exactly") {
  const std::filesystem::path dir = kVaeData / "two_blocks_fp16";
  auto model = vae::load_vae(dir.string());
  const io::SafeTensors golden = io::read_safetensors((dir / "golden.safetensors").string());
  NoGradGuard no_grad;
  const double e_m = relative_error(model->moments(golden.get("x")), golden.get("moments"));
  const double e_d = relative_error(model->decode(golden.get("z")), golden.get("decoded"));
  MESSAGE("fp16 folder: relative error moments ", e_m, ", decoded ", e_d);
  CHECK(e_m < 2e-5);
  CHECK(e_d < 2e-5);
}

namespace {

// Runs `promoe encode` of `images` (a folder or an .npz) into `out` at --size 16.
void run_encode(const std::filesystem::path& images, const std::filesystem::path& out) {
  std::filesystem::remove_all(out);
  const std::string cmd = std::string(PROMOE_CLI) + " encode --vae " + (kVaeData / "two_blocks").string() +
                          " --images " + images.string() + " --out " + out.string() +
                          " --size 16 --batch 2 --jobs 3 --threads 1 --quiet > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("promoe encode writes the official .latent.npz files diffusers' parameters give") {
  // The tree's images and the three of images.npz (labels 0, 2, 2), against the golden keys
  // "<relative path>.latent" and "npz/<i>.latent" (and .latent_flip).
  const std::filesystem::path data = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / "images";
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / ("promoe_encode_" + std::to_string(getpid()));
  run_encode(data / "tree", out / "tree");
  run_encode(data / "images.npz", out / "npz");
  const char* npz_files[] = {"0000/00000000", "0002/00000001", "0002/00000002"};
  const io::SafeTensors golden = io::read_safetensors((kVaeData / "two_blocks" / "encode_golden.safetensors").string());
  int files = 0;
  double worst = 0;
  for (const auto& [key, want] : golden.tensors) {
    const std::string::size_type dot = key.rfind('.');
    const std::string image = key.substr(0, dot), member = key.substr(dot + 1);
    std::string file;
    if (image.rfind("npz/", 0) == 0) {
      file = (out / "npz" / npz_files[std::stoi(image.substr(4))]).string();
    } else {
      std::filesystem::path p = out / "tree" / image;
      file = p.replace_extension().string();
    }
    CAPTURE(key);
    const std::map<std::string, Tensor> npz = io::read_npz(file + ".latent.npz");
    REQUIRE(npz.size() == 2);
    const Tensor& got = npz.at(member);
    CHECK(got.dtype() == DType::F32);
    const double e = relative_error(got, want);
    CHECK(e < 2e-5);
    worst = std::max(worst, e);
    ++files;
  }
  CHECK(files == 24);
  std::ifstream classes(out / "npz" / "classes.txt");
  const std::string text{std::istreambuf_iterator<char>(classes), std::istreambuf_iterator<char>()};
  CHECK(text == "0000\n0001\n0002\n");
  MESSAGE("promoe encode output of 12 images: largest relative error ", worst);
  std::filesystem::remove_all(out);
}
