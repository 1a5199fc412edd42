// `promoe encode`: images to VAE latents as the official ProMoE preprocessing makes them
// (preprocess/preprocess_vae.py): each image read as RGB, ADM centre-cropped to --size with
// Pillow's resampling (io/image_resample.h), normalised to [-1, 1], and encoded with its mirror
// image; the unclamped posterior parameters of both are written to <image>.latent.npz
// (apps/encode_plan.h for the layout). Images are read, cropped and written by --jobs worker
// threads while the VAE encodes the previous batch; outputs already complete are skipped, so a
// killed run continues where it stopped. A bad image is reported on one line naming the file,
// the others are still encoded, and the command then fails.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "apps/commands.h"
#include "apps/encode_plan.h"
#include "apps/option_range.h"
#include "io/atomic_file.h"
#include "io/image_read.h"
#include "io/image_resample.h"
#include "io/npz.h"
#include "tensor/ops.h"
#include "vae/encode_images.h"
#include "vae/load.h"

namespace promoe::apps {

namespace {

struct Prepared {
  std::vector<size_t> items;  // plan indices of the images that were read
  std::vector<io::Image> images;
  std::vector<std::string> errors;  // one line each
};

// Runs body(i) for i in [0, n) on `jobs` threads; the first exception a call throws is rethrown
// once all threads have stopped.
template <typename F>
void parallel_for(int64_t n, int jobs, const F& body) {
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::exception_ptr first;
  const int64_t t = std::min<int64_t>(jobs, n);
  for (int64_t j = 0; j < t; ++j)
    threads.emplace_back([&, j] {
      for (int64_t i = j; i < n; i += t) {
        try {
          body(i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          if (!first) first = std::current_exception();
        }
      }
    });
  for (std::thread& th : threads) th.join();
  if (first) std::rethrow_exception(first);
}

// The error line of a failed image: the message, led by the image's name when it lacks it.
std::string error_line(const std::string& source, const std::string& what) {
  return what.find(source) != std::string::npos ? what : source + ": " + what;
}

Prepared prepare(const EncodePlan& plan, const std::vector<size_t>& batch, int64_t size, int jobs) {
  std::vector<std::optional<io::Image>> images(batch.size());
  std::vector<std::string> errors(batch.size());
  parallel_for(int64_t(batch.size()), jobs, [&](int64_t i) {
    const EncodeItem& item = plan.items[batch[size_t(i)]];
    try {
      const io::Image img = item.npz_index >= 0 ? npz_image(plan, item.npz_index) : io::read_rgb_image(item.source);
      images[size_t(i)] = io::adm_center_crop(img, size);
    } catch (const std::exception& e) {
      errors[size_t(i)] = error_line(item.source, e.what());
    }
  });
  Prepared p;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (images[i]) {
      p.items.push_back(batch[i]);
      p.images.push_back(std::move(*images[i]));
    } else {
      p.errors.push_back(errors[i]);
    }
  }
  return p;
}

// Writes one .latent.npz per encoded image, deflated as np.savez_compressed writes them.
void write_outputs(const EncodePlan& plan, const std::vector<size_t>& items, const vae::EncodedImages& enc, int jobs) {
  parallel_for(int64_t(items.size()), jobs, [&](int64_t i) {
    const std::string& out = plan.items[items[size_t(i)]].out;
    make_parent_directory(out);
    io::write_npz(out, {{"latent", raw::select(enc.latent, 0, i)}, {"latent_flip", raw::select(enc.latent_flip, 0, i)}},
                  true);
  });
}

// OUT/classes.txt: one class folder name a line, line i naming label i.
void write_classes(const std::string& out_dir, const std::vector<std::string>& classes) {
  std::string text;
  for (const std::string& c : classes) text += c + "\n";
  io::write_file_atomic((std::filesystem::path(out_dir) / "classes.txt").string(), text);
}

class EncodeProgress {
 public:
  EncodeProgress(int64_t total, bool quiet) : total_(total), quiet_(quiet), tty_(::isatty(2) == 1) {}
  void update(int64_t done) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (done != total_ && since < (tty_ ? 0.2 : 10.0)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count(), rate = double(done) / std::max(secs, 1e-9);
    const double eta = rate > 0 ? double(total_ - done) / rate : 0;
    std::fprintf(stderr, "%sencode: %lld/%lld images  %.2f images/s  ETA %dm%02ds%s", tty_ ? "\r" : "", (long long)done,
                 (long long)total_, rate, int(eta) / 60, int(eta) % 60, tty_ && done != total_ ? " " : "\n");
    std::fflush(stderr);
  }

 private:
  int64_t total_;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_;
};

// The plan's items whose output is not complete yet; the temp files of killed writers in the
// output folders are removed.
std::vector<size_t> pending_items(const EncodePlan& plan, uint64_t latent_bytes) {
  std::set<std::string> dirs;
  std::vector<size_t> todo;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    dirs.insert(std::filesystem::path(plan.items[i].out).parent_path().string());
    if (!is_complete_output(plan.items[i].out, latent_bytes)) todo.push_back(i);
  }
  for (const std::string& d : dirs) remove_stale_outputs(d);
  return todo;
}

struct Counts {
  int64_t encoded = 0, failed = 0;
};

// Encodes the items `todo` of `plan`, `batch` at a time: batch k + 1 is read and cropped and batch
// k - 1 written by `jobs` threads while the VAE encodes batch k. Bad images are reported as they
// come and counted.
Counts encode_items(const vae::AutoencoderKL& vae, const EncodePlan& plan, const std::vector<size_t>& todo,
                    int64_t size, int64_t batch, int jobs, bool quiet) {
  std::vector<std::vector<size_t>> batches;
  for (size_t i = 0; i < todo.size(); i += size_t(batch))
    batches.emplace_back(todo.begin() + i, todo.begin() + std::min(todo.size(), i + size_t(batch)));
  auto prepare_async = [&](size_t k) {
    return std::async(std::launch::async,
                      [&plan, &batches, k, size, jobs] { return prepare(plan, batches[k], size, jobs); });
  };
  EncodeProgress progress(int64_t(todo.size()), quiet);
  Counts n;
  std::future<Prepared> next;
  std::future<void> writing;
  if (!batches.empty()) next = prepare_async(0);
  for (size_t k = 0; k < batches.size(); ++k) {
    Prepared cur = next.get();
    if (k + 1 < batches.size()) next = prepare_async(k + 1);
    for (const std::string& e : cur.errors) std::fprintf(stderr, "promoe: error: %s\n", e.c_str());
    n.failed += int64_t(cur.errors.size());
    if (!cur.images.empty()) {
      vae::EncodedImages enc = vae::encode_with_flip(vae, cur.images);
      if (writing.valid()) writing.get();
      writing = std::async(std::launch::async, [&plan, items = cur.items, enc = std::move(enc), jobs] {
        write_outputs(plan, items, enc, jobs);
      });
      n.encoded += int64_t(cur.items.size());
    }
    progress.update(n.encoded + n.failed);
  }
  if (writing.valid()) writing.get();
  return n;
}

}  // namespace

void add_encode_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "encode", "Encode images to VAE latents as the official ProMoE preprocessing (<image>.latent.npz files)");
  struct Args {
    std::string vae, images, out, device = "cpu";
    int64_t size = 256, batch = 4;
    int jobs = 2, threads = 2;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--vae", a->vae, "diffusers AutoencoderKL folder (config.json, diffusion_pytorch_model.safetensors)")
      ->required();
  cmd->add_option("--images", a->images,
                  "A folder of class folders of .jpg/.jpeg/.png images, or an .npz of uint8 (N, H, W, C) images "
                  "(arr_0, optional labels arr_1)")
      ->required();
  cmd->add_option("--out", a->out, "Output folder: <relative path>.latent.npz per image, and classes.txt")->required();
  ranged<int64_t>(cmd->add_option("--size", a->size, "Image side after the ADM centre crop"), 8, 4096)
      ->capture_default_str();
  ranged<int64_t>(cmd->add_option("--batch", a->batch, "Images per VAE call (each encoded with its mirror image)"), 1,
                  1024)
      ->capture_default_str();
  ranged<int>(cmd->add_option("--jobs", a->jobs, "Threads reading, cropping and writing images"), 1, 256)
      ->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_flag("--quiet", a->quiet, "No progress line");
  cmd->callback([a] {
    set_threads(a->threads);
    const Device device = parse_device(a->device);
    auto vae = vae::load_vae(a->vae);
    const vae::VaeConfig& c = vae->config();
    const int64_t f = c.downsample_factor();
    PROMOE_CHECK(a->size % f == 0, "encode: --size ", a->size, " is not a multiple of the VAE's downsampling factor ",
                 f);
    vae->to(device);
    std::error_code ec;
    const bool npz = std::filesystem::is_regular_file(a->images, ec);
    const EncodePlan plan = npz ? plan_npz(a->images, a->out) : plan_image_tree(a->images, a->out);
    const int64_t image_channels = npz ? plan.npz_images.size(3) : 3;  // files are read as RGB
    PROMOE_CHECK(image_channels == c.in_channels, "encode: the VAE takes ", c.in_channels,
                 " channels, the images have ", image_channels);
    std::filesystem::create_directories(a->out, ec);
    PROMOE_CHECK(std::filesystem::is_directory(a->out, ec), "encode: cannot create --out ", a->out);
    write_classes(a->out, plan.classes);

    const uint64_t latent_bytes = uint64_t(2 * c.latent_channels) * uint64_t(a->size / f) * uint64_t(a->size / f) * 4;
    const std::vector<size_t> todo = pending_items(plan, latent_bytes);
    const int64_t done_before = int64_t(plan.items.size() - todo.size());
    if (!a->quiet)
      std::fprintf(
          stderr, "encode: %zu images in %zu classes, %lld already encoded%s\n", plan.items.size(), plan.classes.size(),
          (long long)done_before,
          plan.skipped_other ? (", " + std::to_string(plan.skipped_other) + " .bmp/.gif files left out").c_str() : "");
    const auto start = std::chrono::steady_clock::now();
    const Counts n = encode_items(*vae, plan, todo, a->size, a->batch, a->jobs, a->quiet);
    const int64_t encoded = n.encoded, failed = n.failed;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("encoded %lld images to %s latents in %.2f s (%.2f images/s); %lld already encoded; wrote %s\n",
                (long long)encoded, shape_str({2 * c.latent_channels, a->size / f, a->size / f}).c_str(), seconds,
                double(encoded) / std::max(seconds, 1e-9), (long long)done_before, a->out.c_str());
    PROMOE_CHECK(failed == 0, "encode: ", failed, " of ", todo.size(),
                 " images could not be encoded (listed above); the others are written, and a rerun retries these");
  });
}

}  // namespace promoe::apps
