// Latent data set loading from safetensors or .npy, with the checks a training run relies on.
#include "io/latents.h"

#include <filesystem>

#include "io/npy.h"
#include "io/safetensors.h"
#include "tensor/ops.h"

namespace promoe::io {

namespace fs = std::filesystem;

void check_latent_dataset(const LatentDataset& d, const std::string& source, int64_t num_classes) {
  PROMOE_CHECK(d.latents.defined() && d.latents.dim() == 4 && d.latents.dtype() == DType::F32, "latents from ", source,
               ": expected an f32 tensor (N, C, H, W), got ", describe(d.latents));
  PROMOE_CHECK(d.labels.defined() && d.labels.dim() == 1 && d.labels.dtype() == DType::I64, "labels from ", source,
               ": expected an i64 tensor (N), got ", describe(d.labels));
  PROMOE_CHECK(d.labels.size(0) == d.latents.size(0), source, ": ", d.latents.size(0), " latents but ",
               d.labels.size(0), " labels");
  std::vector<int64_t> y = d.labels.to_vector<int64_t>();
  for (size_t i = 0; i < y.size(); ++i)
    PROMOE_CHECK(y[i] >= 0 && (num_classes <= 0 || y[i] < num_classes), "labels from ", source, ": label ", y[i],
                 " at index ", i, " is outside [0, ", (num_classes > 0 ? std::to_string(num_classes) : "inf"), ")");
}

LatentDataset load_latents_safetensors(const std::string& path) {
  SafeTensors st = read_safetensors(path);
  const Tensor& x = st.get("latents");
  PROMOE_CHECK(x.dtype() != DType::I64, "file ", path, ": tensor latents is ", describe(x),
               ", expected floating point");
  LatentDataset d{raw::to(x, DType::F32), st.get_index("labels")};
  check_latent_dataset(d, path);
  return d;
}

LatentDataset load_latents_npy(const std::string& latents_path, const std::string& labels_path) {
  Tensor x = read_npy(latents_path);
  PROMOE_CHECK(x.dtype() == DType::F32, ".npy file ", latents_path, ": latents must be float32 ('<f4'), got ",
               describe(x));
  Tensor y = read_npy(labels_path);
  PROMOE_CHECK(y.dtype() == DType::I64, ".npy file ", labels_path, ": labels must be int64 or int32, got ",
               describe(y));
  LatentDataset d{x, y};
  check_latent_dataset(d, latents_path + " + " + labels_path);
  return d;
}

LatentDataset load_latents(const std::string& path, const std::string& labels_path) {
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::is_regular_file(p / "latents.safetensors", ec))
      return load_latents_safetensors((p / "latents.safetensors").string());
    if (fs::is_regular_file(p / "latents.npy", ec))
      return load_latents_npy((p / "latents.npy").string(),
                              labels_path.empty() ? (p / "labels.npy").string() : labels_path);
    PROMOE_FAIL("latent directory ", path, " holds neither latents.safetensors nor latents.npy + labels.npy");
  }
  PROMOE_CHECK(fs::exists(p, ec), "latent data set ", path, ": no such file or directory");
  if (p.extension() == ".npy")
    return load_latents_npy(path, labels_path.empty() ? (p.parent_path() / "labels.npy").string() : labels_path);
  PROMOE_CHECK(labels_path.empty(), "latent data set ", path, ": a separate labels file only goes with .npy latents");
  return load_latents_safetensors(path);
}

}  // namespace promoe::io
