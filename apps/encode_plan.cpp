// Listing the images to encode and their outputs.
#include "apps/encode_plan.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "io/atomic_file.h"
#include "io/npz.h"
#include "io/zip_reader.h"

namespace promoe::apps {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// OUT/<relative path without its extension>.latent.npz
std::string output_path(const fs::path& out_dir, const fs::path& relative) {
  fs::path p = out_dir / relative;
  p.replace_extension();
  return p.string() + ".latent.npz";
}

void sort_items(std::vector<EncodeItem>& items) {
  std::sort(items.begin(), items.end(), [](const EncodeItem& a, const EncodeItem& b) { return a.out < b.out; });
}

}  // namespace

bool is_encodable_image(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

EncodePlan plan_image_tree(const std::string& root, const std::string& out_dir) {
  std::error_code ec;
  PROMOE_CHECK(fs::is_directory(root, ec), "encode: --images ", root,
               " is neither a folder of images nor an .npz file");
  EncodePlan plan;
  std::set<std::string> classes;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  PROMOE_CHECK(!ec, "encode: cannot list ", root, ": ", ec.message());
  for (; it != end; it.increment(ec)) {
    PROMOE_CHECK(!ec, "encode: cannot list ", root, ": ", ec.message());
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const fs::path& p = it->path();
    if (!is_encodable_image(p.string())) {
      const std::string ext = lower(p.extension().string());
      plan.skipped_other += ext == ".bmp" || ext == ".gif";
      continue;
    }
    const fs::path rel = p.lexically_relative(root);
    plan.items.push_back({p.string(), output_path(out_dir, rel), -1});
    classes.insert(p.parent_path().filename().string());
  }
  PROMOE_CHECK(!plan.items.empty(), "encode: no .jpg, .jpeg or .png file under ", root);
  sort_items(plan.items);
  plan.classes.assign(classes.begin(), classes.end());
  return plan;
}

EncodePlan plan_npz(const std::string& path, const std::string& out_dir) {
  const std::map<std::string, Tensor> m = io::read_npz(path);
  const char* images_key = m.count("arr_0") ? "arr_0" : "images";
  const char* labels_key = m.count("arr_0") ? "arr_1" : "labels";
  PROMOE_CHECK(m.count(images_key), path, ": no images (arr_0 or images)");
  EncodePlan plan;
  plan.npz_images = m.at(images_key);
  const Tensor& x = plan.npz_images;
  PROMOE_CHECK(
      x.dim() == 4 && x.dtype() == DType::I64 && x.size(0) >= 1 && x.size(1) >= 1 && x.size(2) >= 1 && x.size(3) >= 1,
      path, ": images ", describe(x), " are not uint8 (N, H, W, C)");
  const int64_t n = x.size(0);
  std::vector<int64_t> labels;
  if (m.count(labels_key)) {
    const Tensor& l = m.at(labels_key);
    PROMOE_CHECK(l.dim() == 1 && l.size(0) == n && l.dtype() == DType::I64, path, ": labels ", describe(l),
                 " are not (", n, ") integers");
    labels = l.to_vector<int64_t>();
    for (int64_t v : labels) PROMOE_CHECK(v >= 0 && v <= 9999, path, ": label ", v, " is outside [0, 9999]");
    const int64_t top = *std::max_element(labels.begin(), labels.end());
    for (int64_t c = 0; c <= top; ++c) {
      char name[24];
      std::snprintf(name, sizeof(name), "%04lld", (long long)c);
      plan.classes.push_back(name);
    }
  } else {
    plan.classes = {"images"};
  }
  for (int64_t i = 0; i < n; ++i) {
    char file[32];
    std::snprintf(file, sizeof(file), "%08lld", (long long)i);
    const std::string folder = labels.empty() ? "images" : plan.classes[size_t(labels[size_t(i)])];
    plan.items.push_back(
        {path + "[" + std::to_string(i) + "]", (fs::path(out_dir) / folder / file).string() + ".latent.npz", i});
  }
  sort_items(plan.items);
  return plan;
}

io::Image npz_image(const EncodePlan& plan, int64_t index) {
  const Tensor& x = plan.npz_images;
  const int64_t H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t* v = x.data<int64_t>() + index * H * W * C;
  io::Image img{W, H, C, std::vector<uint8_t>(size_t(H * W * C))};
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    PROMOE_CHECK(v[i] >= 0 && v[i] <= 255, "image ", index, " holds ", v[i], ", not a byte");
    img.pixels[i] = uint8_t(v[i]);
  }
  return img;
}

bool is_complete_output(const std::string& path, uint64_t latent_bytes) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  try {
    const io::ZipReader zip(path, "latent file " + path);
    for (const char* name : {"latent.npy", "latent_flip.npy"}) {
      const io::ZipMember* m = zip.find(name);
      // The .npy header before the data is at most a few hundred bytes.
      if (!m || m->size < latent_bytes || m->size > latent_bytes + 4096) return false;
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

int remove_stale_outputs(const std::string& dir) {
  std::error_code ec;
  int removed = 0;
  std::set<std::string> bases;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().string();
    const std::string::size_type at = name.rfind(".latent.npz.tmp.");
    if (at != std::string::npos) bases.insert(name.substr(0, at + std::string(".latent.npz").size()));
  }
  for (const std::string& base : bases) removed += io::remove_stale_temp_files(base);
  return removed;
}

}  // namespace promoe::apps
