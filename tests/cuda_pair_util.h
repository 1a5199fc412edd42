// Shared by the CUDA backend tests (label `cuda`): the same tensor or view on the CPU and the GPU,
// and elementwise comparison of a GPU result with the CPU's under a tolerance model.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "random_views.h"
#include "tensor/backend.h"
#include "tensor/ops.h"

namespace promoe::test {

inline const Device kCuda = Device::cuda(0);
inline Backend& cpu_be() { return backend_for(Device::cpu()); }
inline Backend& gpu_be() { return backend_for(kCuda); }

// The same tensor (or view) on both devices.
struct Pair {
  Tensor cpu, gpu;
};

inline Pair upload(const Tensor& host) { return {host, raw::to(host, kCuda)}; }

// Applies the same view function on both sides.
inline Pair view(const Pair& p, const std::function<Tensor(const Tensor&)>& f) { return {f(p.cpu), f(p.gpu)}; }

// The same random view on both devices: one host base tensor, uploaded, viewed alike on each side.
inline Pair random_pair(Generator& gen, const Shape& shape, DType dt, ViewKind kind) {
  return view(upload(random_tensor(gen, view_base_shape(shape, kind), dt)),
              [&](const Tensor& t) { return apply_view(t, shape, kind); });
}

// One side (CPU or GPU) of a list of pairs.
inline std::vector<Tensor> side(const std::vector<Pair>& ps, bool gpu) {
  std::vector<Tensor> v;
  for (const Pair& p : ps) v.push_back(gpu ? p.gpu : p.cpu);
  return v;
}

inline Pair empty_pair(const Shape& shape, DType dt) {
  return {Tensor::empty(shape, dt), Tensor::empty(shape, dt, kCuda)};
}

// |gpu - cpu| <= atol + rtol * |cpu| elementwise (NaN matches NaN); `atol_each` overrides atol per element.
inline void check_close(const Tensor& gpu, const Tensor& cpu, double rtol, double atol, const std::string& what,
                        const std::vector<double>* atol_each = nullptr) {
  REQUIRE_MESSAGE(gpu.device() == kCuda, what);
  REQUIRE_MESSAGE(gpu.shape() == cpu.shape(),
                  (what + ": shapes " + shape_str(gpu.shape()) + " vs " + shape_str(cpu.shape())));
  const std::vector<double> g = gpu.to_vector<double>(), c = cpu.to_vector<double>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    const double tol = (atol_each ? (*atol_each)[i] : atol) + rtol * std::abs(c[i]);
    if (!(std::isnan(g[i]) && std::isnan(c[i])) && !(std::abs(g[i] - c[i]) <= tol)) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  }
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << g.size() << " elements differ";
  if (first >= 0) msg << "; first at " << first << ": gpu " << g[first] << " vs cpu " << c[first];
  CHECK_MESSAGE(bad == 0, msg.str());
}

inline void check_pair(const Pair& p, double rtol, double atol, const std::string& what) {
  check_close(p.gpu, p.cpu, rtol, atol, what);
}

inline double rtol_for(DType dt) { return dt == DType::F32 ? 1e-5 : dt == DType::F64 ? 1e-12 : 0.0; }
inline double atol_for(DType dt) { return dt == DType::F32 ? 1e-6 : dt == DType::F64 ? 1e-13 : 0.0; }

inline std::string name_of(DType dt, ViewKind k) { return std::string(dtype_name(dt)) + " " + kind_name(k); }

}  // namespace promoe::test
