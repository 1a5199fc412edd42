// load_vae: config, model, weights by name.
#include "vae/load.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "tensor/ops.h"

namespace promoe::vae {

std::string current_vae_name(const std::string& name) {
  // Older diffusers (and the first SD VAE uploads) named the mid-block attention's projections
  // query, key, value and proj_attn.
  static const std::pair<const char*, const char*> renames[] = {
      {".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."}, {".proj_attn.", ".to_out.0."}};
  const std::string::size_type at = name.find(".attentions.");
  if (at == std::string::npos) return name;
  std::string out = name;
  for (const auto& [old_name, new_name] : renames) {
    const std::string::size_type p = out.find(old_name, at);
    if (p != std::string::npos) return out.replace(p, std::string(old_name).size(), new_name);
  }
  return out;
}

namespace {
bool all_finite(const Tensor& t) {  // a CPU f32 parameter
  const float* p = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}
}  // namespace

void load_vae_weights(AutoencoderKL& model, const io::SafeTensors& file) {
  std::map<std::string, Tensor> wanted;
  for (auto& [name, t] : model.state_dict()) {
    PROMOE_CHECK(t.device().is_cpu() && t.dtype() == DType::F32, "load_vae_weights: parameter ", name, " is ",
                 describe(t), "; weights load into a CPU f32 model");
    wanted.emplace(name, t);
  }
  std::set<std::string> loaded;
  for (const auto& [stored, t] : file.tensors) {
    const std::string name = current_vae_name(stored);
    auto it = wanted.find(name);
    PROMOE_CHECK(it != wanted.end(), file.path, ": tensor ", stored, " ", describe(t),
                 " is not a parameter of the configured AutoencoderKL (a config.json of another model?)");
    PROMOE_CHECK(loaded.insert(name).second, file.path, ": tensor ", name, " is stored twice (as ", stored,
                 " and under its other name)");
    Tensor& dst = it->second;
    Tensor src = t;
    // Attention projections stored as 1x1 convolutions: (C, C, 1, 1) for a (C, C) linear weight.
    if (dst.dim() == 2 && src.dim() == 4 && src.size(2) == 1 && src.size(3) == 1)
      src = raw::reshape(src, {src.size(0), src.size(1)});
    PROMOE_CHECK(src.shape() == dst.shape(), file.path, ": tensor ", stored, " has shape ", shape_str(t.shape()),
                 " but the configured model expects ", shape_str(dst.shape()));
    PROMOE_CHECK(src.dtype() != DType::I64, file.path, ": tensor ", stored, " holds integers (", describe(t),
                 "), not weights");
    raw::copy_(dst.detach(), src);
    PROMOE_CHECK(all_finite(dst), file.path, ": tensor ", stored, " holds a non-finite value");
  }
  for (const auto& [name, t] : wanted)
    PROMOE_CHECK(loaded.count(name), file.path, ": tensor ", name, " ", shape_str(t.shape()),
                 " of the configured AutoencoderKL is missing");
}

std::shared_ptr<AutoencoderKL> load_vae(const std::string& dir) {
  const std::filesystem::path root(dir);
  PROMOE_CHECK(std::filesystem::is_directory(root), dir, ": not a VAE folder (expected a directory with ", kConfigFile,
               " and ", kWeightsFile, ")");
  const VaeConfig config = read_vae_config((root / kConfigFile).string());
  Generator gen(0);  // the initial values are all overwritten
  auto model = std::make_shared<AutoencoderKL>(config, gen);
  std::error_code ec;
  const bool fp16_only =
      !std::filesystem::exists(root / kWeightsFile, ec) && std::filesystem::exists(root / kFp16WeightsFile, ec);
  load_vae_weights(*model, io::read_safetensors((root / (fp16_only ? kFp16WeightsFile : kWeightsFile)).string()));
  model->train(false);
  return model;
}

}  // namespace promoe::vae
