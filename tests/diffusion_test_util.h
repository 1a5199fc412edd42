// Helpers shared by the diffusion tests: closeness, statistics, an independent schedule.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/ops.h"

namespace promoe::diffusion_test {

inline double rel_close(double a, double b) { return std::abs(a - b) / std::max(1e-300, std::abs(b)); }

inline std::vector<double> vec(const Tensor& t) { return t.to_vector<double>(); }

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = vec(a), y = vec(b);
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

struct Stats {
  double mean = 0, std = 0;
};
inline Stats stats(const Tensor& t) {
  std::vector<double> v = vec(t);
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / double(v.size()));
  return s;
}

// Base (1000-step, linear) ᾱ computed independently of the library.
inline std::vector<double> reference_alphas_cumprod() {
  std::vector<double> ac(1000);
  double p = 1.0;
  for (int i = 0; i < 1000; ++i) {
    const double beta = 1e-4 + (0.02 - 1e-4) * double(i) / 999.0;
    p *= 1.0 - beta;
    ac[size_t(i)] = p;
  }
  return ac;
}

// A (B) tensor of model times -> host doubles (all equal within a sampler call).
inline double first_time(const Tensor& t) { return vec(t)[0]; }

// Data in [-1, 1] with exact -1 and 1 entries, which exercise the decoder NLL's edge branches.
inline Tensor edge_data(Generator& g, const Shape& shape, DType dtype) {
  Tensor x = promoe::clamp(g.randn(shape, DType::F64) * 0.8, -1.0, 1.0);
  std::vector<double> v = vec(x);
  v[0] = -1.0;
  v[1] = 1.0;
  v[v.size() - 1] = 1.0;
  v[v.size() - 2] = -1.0;
  return promoe::to(promoe::from_vector<double>(v, shape), dtype);
}

}  // namespace promoe::diffusion_test
