// Image outputs by extension.
#include "apps/image_output.h"

#include "io/npz.h"
#include "io/pixel_bytes.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "tensor/ops.h"

namespace promoe::apps {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

bool is_image_output(const std::string& path) {
  return ends_with(path, ".png") || ends_with(path, ".npz") || ends_with(path, ".safetensors");
}

Tensor adm_pixel_bytes(const Tensor& images) {
  const std::vector<uint8_t> bytes = io::nhwc_pixel_bytes(images);
  return raw::from_vector<int64_t>(std::vector<int64_t>(bytes.begin(), bytes.end()),
                                   {images.size(0), images.size(2), images.size(3), images.size(1)});
}

void write_images(const std::string& path, const Tensor& images, const Tensor& labels, int64_t columns) {
  PROMOE_CHECK(is_image_output(path), "--out ", path, " must end in .png, .npz or .safetensors");
  PROMOE_CHECK(images.dim() == 4, "images ", describe(images), " are not (N, C, H, W)");
  const Tensor host = raw::to(images, DType::F32, Device::cpu());
  if (ends_with(path, ".safetensors")) {
    io::NamedTensors t{{"images", host}};
    if (labels.defined()) t.emplace_back("labels", labels);
    io::write_safetensors(path, t);
  } else if (ends_with(path, ".npz")) {
    std::vector<io::NpzMember> m{{"arr_0", adm_pixel_bytes(host), true}};
    if (labels.defined()) m.push_back({"arr_1", labels, false});
    io::write_npz(path, m);
  } else {
    PROMOE_CHECK(host.size(1) == 1 || host.size(1) == 3, "--out ", path,
                 ": a PNG grid needs 1 or 3 channels, the images have ", host.size(1));
    io::write_image_grid_png(path, host, columns);
  }
}

}  // namespace promoe::apps
