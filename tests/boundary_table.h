// The backend boundary's table (tests/test_unit_boundary.cpp runs it): a row per primitive of
// tensor/backend.h, the job runners (tensor/jobs.h) and every fused op (tensor/fused.h), each row
// drawing random cases and running one case on one implementation; the primitive rows are in
// test_unit_boundary_primitive_rows.cpp, the fused rows in test_unit_boundary_fused_rows.cpp.
#pragma once
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "random_views.h"
#include "tensor/backend.h"

namespace promoe::test::boundary {

// One implementation of the boundary: a device and whether fused ops take its fast kernel (false:
// the composed reference, run on that device's primitives).
struct Impl {
  std::string name;
  Device device;
  bool fast;
};

// An input: a host base tensor and the view taken of it once it is on the implementation's device,
// so every implementation sees the same layout (strides, offsets, stride-0 broadcast dims).
struct Input {
  Tensor base;
  std::function<Tensor(const Tensor&)> view = [](const Tensor& t) { return t; };
  Tensor on(Device d) const { return view(raw::to(base, d)); }
};

inline Input dense(Generator& gen, const Shape& shape, DType dt, double scale = 1.0) {
  return {random_tensor(gen, shape, dt, scale)};
}

// What a row draws for one case: its inputs and a label.
struct Case {
  std::string what;
  std::vector<Input> in;
  int64_t k = 0;          // a size parameter of the op (reduced dims, top-k, dim, head count)
  double p0 = 0, p1 = 0;  // scalar parameters
};

using Outputs = std::vector<Tensor>;
struct Row {
  const char* op;
  bool fused;
  std::vector<DType> dtypes;
  // Draws the cases of one dtype.
  std::function<std::vector<Case>(Generator&, std::mt19937&, DType)> cases;
  // Runs one case on one implementation; the inputs are already on impl.device.
  std::function<Outputs(const Impl&, const Case&, const std::vector<Tensor>&)> run;
  std::vector<std::string> covers = {};  // the fused ops (FusedOp names) a fused row runs
};

inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }
inline Tensor empty_on(const Shape& s, DType dt, Device d) { return Tensor::empty(s, dt, d); }

inline Shape random_shape(std::mt19937& rng, int dims, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> d(lo, hi);
  Shape s(static_cast<size_t>(dims));
  for (int64_t& v : s) v = d(rng);
  return s;
}

inline const std::vector<DType> kFloat = {DType::F32, DType::F64};

// The rows of the primitives (on the cpu and cuda backends) and of the fused ops (on the composed
// reference, the cpu fast kernel and cuda), appended to `rows`.
void add_primitive_rows(std::vector<Row>& rows);
void add_fused_rows(std::vector<Row>& rows);

}  // namespace promoe::test::boundary
