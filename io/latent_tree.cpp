// The official .latent.npz tree, listed once and read one file per entry (latent_tree.h).
#include "io/latent_tree.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/npz.h"
#include "tensor/ops.h"

namespace promoe::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSuffix = ".latent.npz";
constexpr size_t kMaxClasses = size_t(1) << 31;

bool is_latent_file(const fs::directory_entry& e) {
  const std::string name = e.path().filename().string();
  std::error_code ec;
  return e.is_regular_file(ec) && name.size() > std::strlen(kSuffix) &&
         name.compare(name.size() - std::strlen(kSuffix), std::string::npos, kSuffix) == 0;
}

// The lines of classes.txt (trailing whitespace trimmed, empty lines skipped).
std::vector<std::string> read_class_list(const fs::path& file) {
  std::ifstream in(file);
  PROMOE_CHECK(in, "cannot read ", file.string());
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) names.push_back(line);
    PROMOE_CHECK(names.size() <= kMaxClasses, file.string(), ": more than 2^31 classes");
  }
  PROMOE_CHECK(!names.empty(), file.string(), " lists no classes");
  return names;
}

// The two members of one file, checked against the expected shape (empty: any (2C, h, w)).
std::pair<Tensor, Tensor> read_entry(const std::string& path, const Shape& expected) {
  std::map<std::string, Tensor> m = read_npz(path);
  Tensor pair[2];
  const char* names[2] = {"latent", "latent_flip"};
  for (int v = 0; v < 2; ++v) {
    auto it = m.find(names[v]);
    PROMOE_CHECK(it != m.end(), "latent file ", path, " has no member '", names[v], "'");
    const Tensor& t = it->second;
    PROMOE_CHECK(t.dtype() == DType::F32 && t.dim() == 3, "latent file ", path, ": member '", names[v], "' is ",
                 describe(t), ", expected float32 (2C, h, w)");
    PROMOE_CHECK(expected.empty() || t.shape() == expected, "latent file ", path, ": member '", names[v], "' is ",
                 describe(t), " but the tree's first entry is ", shape_str(expected));
    pair[v] = raw::contiguous(t);
  }
  PROMOE_CHECK(pair[0].shape() == pair[1].shape(), "latent file ", path, ": latent and latent_flip differ in shape");
  PROMOE_CHECK(pair[0].size(0) % 2 == 0, "latent file ", path, ": ", pair[0].size(0),
               " channels are not means and log-variances (an even count)");
  return {pair[0], pair[1]};
}

}  // namespace

LatentNpzTree::LatentNpzTree(const std::string& root) {
  std::error_code ec;
  PROMOE_CHECK(fs::is_directory(root, ec), "latent npz tree ", root, ": not a directory");
  std::vector<std::string> folders;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec))
    if (e.is_directory(ec)) folders.push_back(e.path().filename().string());
  PROMOE_CHECK(!ec, "latent npz tree ", root, ": cannot list it (", ec.message(), ")");
  std::sort(folders.begin(), folders.end());
  // Per class folder, its .latent.npz files in name order.
  std::vector<std::pair<std::string, std::vector<std::string>>> found;
  for (const std::string& folder : folders) {
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::directory_iterator(fs::path(root) / folder, ec))
      if (is_latent_file(e)) names.push_back(e.path().filename().string());
    PROMOE_CHECK(!ec, "latent npz tree ", root, ": cannot list ", folder, " (", ec.message(), ")");
    if (names.empty()) continue;
    std::sort(names.begin(), names.end());
    found.push_back({folder, std::move(names)});
  }
  PROMOE_CHECK(!found.empty(), "latent set ", root,
               " holds no index.json, no latents.safetensors or latents.npy, and no ", "class folder of ", kSuffix,
               " files");
  const fs::path list = fs::path(root) / "classes.txt";
  std::map<std::string, int64_t> class_of;
  if (fs::exists(list, ec)) {
    classes_ = read_class_list(list);
  } else {
    for (auto& [folder, names] : found) classes_.push_back(folder);
  }
  for (size_t i = 0; i < classes_.size(); ++i)
    PROMOE_CHECK(class_of.emplace(classes_[i], int64_t(i)).second, list.string(), ": class '", classes_[i],
                 "' is listed twice");
  for (auto& [folder, names] : found) {
    auto it = class_of.find(folder);
    PROMOE_CHECK(it != class_of.end(), "latent npz tree ", root, ": folder '", folder, "' is not a class of ",
                 list.string());
    for (const std::string& n : names) {
      files_.push_back(folder + "/" + n);
      labels_.push_back(int32_t(it->second));
    }
  }
  info_.kind = "latent npz tree";
  info_.path = root;
  const Shape shape = read_entry(entry_path(0), {}).first.shape();
  info_.size = int64_t(files_.size());
  info_.channels = shape[0];
  info_.height = shape[1];
  info_.width = shape[2];
  info_.moments = true;
  info_.flips = true;
  info_.num_classes = int64_t(classes_.size());
  info_.scaling_factor = kSdVaeScalingFactor;
}

std::string LatentNpzTree::entry_path(int64_t index) const {
  PROMOE_CHECK(index >= 0 && index < int64_t(files_.size()), "latent npz tree ", info_.path, ": entry ", index,
               " is outside [0, ", files_.size(), ")");
  return (fs::path(info_.path) / files_[size_t(index)]).string();
}

int64_t LatentNpzTree::label(int64_t index) const {
  entry_path(index);  // the range check
  return labels_[size_t(index)];
}

void LatentNpzTree::read(int64_t index, int variant, float* out) const {
  PROMOE_CHECK(variant == 0 || variant == 1, "latent npz tree: entry variant ", variant, " does not exist");
  const Shape expected{info_.channels, info_.height, info_.width};
  auto [latent, flipped] = read_entry(entry_path(index), expected);
  const Tensor& t = variant == 0 ? latent : flipped;
  std::memcpy(out, t.data<float>(), size_t(t.numel()) * sizeof(float));
}

}  // namespace promoe::io
