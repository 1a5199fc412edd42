// Progress bar drawing on stderr.
#include "training/progress.h"

#include <cstdio>

namespace promoe::training {

Progress::Progress(int64_t total, int64_t start, bool enabled)
    : total_(total), start_(start), enabled_(enabled), t0_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void Progress::update(int64_t step, double loss) {
  smoothed_ = smoothed_ < 0 ? loss : 0.95 * smoothed_ + 0.05 * loss;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (step != total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
  last_draw_ = now;
  double secs = elapsed_seconds(), rate = double(step - start_) / (secs > 0 ? secs : 1e-9);
  double eta = rate > 0 ? double(total_ - step) / rate : 0;
  const int width = 30;
  int filled = int(double(width) * double(step) / double(total_));
  char bar[width + 1];
  for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
  bar[width] = 0;
  std::fprintf(stderr, "\r[%s] step %lld/%lld  loss %.4f  %.2f it/s  ETA %dm%02ds ", bar, (long long)step,
               (long long)total_, smoothed_, rate, int(eta) / 60, int(eta) % 60);
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_) std::fprintf(stderr, "\n");
}

}  // namespace promoe::training
