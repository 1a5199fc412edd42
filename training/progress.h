// A one-line terminal progress bar: step, loss (smoothed), it/s and ETA, redrawn in place.
#pragma once
#include <chrono>
#include <cstdint>

namespace promoe::training {

class Progress {
 public:
  Progress(int64_t total, int64_t start, bool enabled);
  void update(int64_t step, double loss);
  void finish();
  double elapsed_seconds() const;

 private:
  int64_t total_, start_;
  bool enabled_;
  double smoothed_ = -1;
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

}  // namespace promoe::training
