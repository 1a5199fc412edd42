// Batches from streamed latent sets (latent_batches.h).
#include "training/latent_batches.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/ops.h"
#include "training/data_order.h"

namespace promoe::training {

namespace {

double effective_scale(const io::LatentSetInfo& info, double scale) {
  return scale > 0 ? scale : (info.moments ? info.scaling_factor : 1.0);
}

}  // namespace

void sample_from_entry(const io::LatentSetInfo& info, const float* entry, const float* noise, double scale,
                       float* out) {
  const int64_t k = info.sample_channels() * info.height * info.width;
  if (!info.moments) {
    for (int64_t i = 0; i < k; ++i) out[i] = float(double(entry[i]) * scale);
    return;
  }
  const float* mean = entry;
  const float* logvar = entry + k;
  for (int64_t i = 0; i < k; ++i) {
    const double lv = std::clamp(double(logvar[i]), -30.0, 20.0);
    out[i] = float((double(mean[i]) + std::exp(0.5 * lv) * double(noise[i])) * scale);
  }
}

LatentBatch latent_batch(const io::LatentSource& source, uint64_t seed, uint64_t n, uint64_t step, uint64_t batch,
                         double scale, uint64_t first, uint64_t count) {
  const io::LatentSetInfo& info = source.info();
  PROMOE_CHECK(n >= 1 && n <= uint64_t(info.size), "latent batch: ", n, " entries asked of a set of ", info.size);
  if (count == 0) count = batch - std::min(first, batch);
  PROMOE_CHECK(first + count <= batch, "latent batch: positions [", first, ", ", first + count,
               ") lie outside a batch of ", batch);
  const double s = effective_scale(info, scale);
  const int64_t sample_floats = info.sample_channels() * info.height * info.width;
  LatentBatch b{Tensor::empty({int64_t(count), info.sample_channels(), info.height, info.width}, DType::F32),
                Tensor::empty({int64_t(count)}, DType::I64)};
  float* x = b.x0.data<float>();
  int64_t* y = b.labels.data<int64_t>();
  std::vector<float> entry(size_t(info.entry_floats())), noise(info.moments ? size_t(sample_floats) : 0);
  for (uint64_t j = 0; j < count; ++j) {
    const uint64_t g = global_position(step, batch, first + j);
    const int64_t index = int64_t(index_at(seed, n, g));
    const int variant = info.flips ? int(sample_choice(seed, g, 2)) : 0;
    source.read(index, variant, entry.data());
    if (info.moments) sample_normals(seed, g, noise.data(), uint64_t(sample_floats));
    sample_from_entry(info, entry.data(), noise.data(), s, x + j * uint64_t(sample_floats));
    y[j] = source.label(index);
  }
  return b;
}

LatentBatch latent_routing_examples(const io::LatentSource& source, uint64_t n, int64_t num_classes, int64_t per_class,
                                    double scale) {
  const io::LatentSetInfo& info = source.info();
  PROMOE_CHECK(n <= uint64_t(info.size), "routing examples: ", n, " entries asked of a set of ", info.size);
  std::vector<int64_t> picked, seen(size_t(num_classes), 0);
  int64_t full = 0;
  for (uint64_t i = 0; i < n && full < num_classes; ++i) {
    const int64_t y = source.label(int64_t(i));
    if (y < num_classes && seen[size_t(y)] < per_class) {
      picked.push_back(int64_t(i));
      if (++seen[size_t(y)] == per_class) ++full;
    }
  }
  const int64_t m = int64_t(picked.size());
  const int64_t sample_floats = info.sample_channels() * info.height * info.width;
  LatentBatch b{Tensor::empty({m, info.sample_channels(), info.height, info.width}, DType::F32),
                Tensor::empty({m}, DType::I64)};
  std::vector<float> entry(size_t(info.entry_floats())), zero(size_t(sample_floats), 0.0f);
  const double s = effective_scale(info, scale);
  for (int64_t j = 0; j < m; ++j) {
    source.read(picked[size_t(j)], 0, entry.data());
    sample_from_entry(info, entry.data(), zero.data(), s, b.x0.data<float>() + j * sample_floats);
    b.labels.data<int64_t>()[j] = source.label(picked[size_t(j)]);
  }
  return b;
}

}  // namespace promoe::training
