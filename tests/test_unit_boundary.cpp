// The backend boundary, table-driven in the manner of ggml's tests/test-backend-ops.cpp: every
// primitive of tensor/backend.h, the job runners (tensor/jobs.h) and every fused op (tensor/fused.h), over random
// shapes, strided and broadcast views and dtypes, runs through every implementation there is and is compared with the
// first:
//   primitive:  cpu backend (the readable reference), cuda backend
//   fused op:   composed reference, cpu fast kernel, cuda (its fast kernel, else the reference
//               composed from cuda primitives)
// CUDA runs where a GPU is present and is skipped, with a message, otherwise. A new op is covered
// by one row of the table (boundary_table.h: the primitive rows are in
// test_unit_boundary_primitive_rows.cpp, the fused ones in test_unit_boundary_fused_rows.cpp); a
// new backend by one entry of implementations().
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "boundary_table.h"
#include "tensor/fused.h"

namespace promoe::test::boundary {
namespace {

std::vector<Impl> implementations(bool fused) {
  std::vector<Impl> impls;
  if (fused) impls.push_back({"reference", Device::cpu(), false});
  impls.push_back({"cpu", Device::cpu(), true});
  if (cuda_available()) impls.push_back({"cuda", Device::cuda(0), true});
  return impls;
}

double rtol(DType dt) { return dt == DType::F64 ? 1e-9 : dt == DType::F32 ? 2e-4 : 0.0; }
double atol(DType dt) { return dt == DType::F64 ? 1e-10 : dt == DType::F32 ? 2e-5 : 0.0; }

void compare(const Tensor& got, const Tensor& want, DType dt, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape ", shape_str(got.shape()), " vs ",
                  shape_str(want.shape()));
  const std::vector<double> g = raw::to(got, Device::cpu()).to_vector<double>(),
                            w = raw::to(want, Device::cpu()).to_vector<double>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::abs(g[i] - w[i]) <= atol(dt) + rtol(dt) * std::abs(w[i])) && !(std::isnan(g[i]) && std::isnan(w[i]))) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", g.size(), " elements differ, first at ", first, " (",
                first >= 0 ? g[size_t(first)] : 0.0, " vs ", first >= 0 ? w[size_t(first)] : 0.0, ")");
}

std::vector<Row> rows() {
  std::vector<Row> r;
  add_primitive_rows(r);
  add_fused_rows(r);
  return r;
}

}  // namespace

TEST_CASE("boundary: every primitive and fused op agrees across the reference, the CPU and CUDA") {
  if (!cuda_available()) MESSAGE("no CUDA GPU: the CUDA column is skipped");
  int64_t compared = 0;
  for (const Row& row : rows())
    for (DType dt : row.dtypes) {
      Generator gen(17);
      std::mt19937 rng(42);
      for (const Case& c : row.cases(gen, rng, dt)) {
        const std::vector<Impl> impls = implementations(row.fused);
        std::vector<Outputs> results;
        for (const Impl& impl : impls) {
          std::vector<Tensor> in;
          for (const Input& i : c.in) in.push_back(i.on(impl.device));
          results.push_back(row.run(impl, c, in));
        }
        for (size_t i = 1; i < impls.size(); ++i) {
          REQUIRE(results[i].size() == results[0].size());
          for (size_t o = 0; o < results[0].size(); ++o) {
            const DType cmp = results[0][o].dtype() == DType::BF16 ? DType::F32 : results[0][o].dtype();
            compare(results[i][o], results[0][o], cmp,
                    std::string(row.op) + " " + dtype_name(dt) + " " + c.what + ": " + impls[i].name + " vs " +
                        impls[0].name + ", output " + std::to_string(o));
            ++compared;
          }
        }
      }
    }
  CHECK(compared > 0);
  MESSAGE("compared ", compared, " outputs");
}

TEST_CASE("boundary: every registered fast kernel belongs to a declared fused op, and the table covers it") {
  const std::vector<std::string> declared = fused_registry::declared_names();
  std::vector<std::string> covered;
  for (const Row& row : rows()) covered.insert(covered.end(), row.covers.begin(), row.covers.end());
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (DeviceType type : {DeviceType::CPU, DeviceType::CUDA})
    for (const std::string& name : fused_registry::kernel_names(type))
      CHECK_MESSAGE(has(declared, name), name, " has a fast kernel but no FusedOp declares it (a misspelt name?)");
  for (const std::string& name : declared)
    CHECK_MESSAGE(has(covered, name), name, " is declared but no row of the boundary table runs it");
  CHECK(declared.size() == 21);  // the ops of nn/fused_*.h and moe/fused_*.h
}

}  // namespace promoe::test::boundary
