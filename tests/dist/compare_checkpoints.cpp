// compare_checkpoints A B TOL [PREFIX]: every tensor of A whose name starts with PREFIX (default
// "model.") must be in B with the same shape and no element may differ by more than TOL. Prints
// the largest difference and its tensor; exits 1 on a mismatch.
#include <cmath>
#include <cstdio>
#include <string>

#include "io/safetensors.h"
#include "tensor/ops.h"

using namespace promoe;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: compare_checkpoints A B TOL [PREFIX]\n");
    return 2;
  }
  try {
    const io::SafeTensors a = io::read_safetensors(argv[1]), b = io::read_safetensors(argv[2]);
    const double tol = std::stod(argv[3]);
    const std::string prefix = argc > 4 ? argv[4] : "model.";
    double worst = 0;
    std::string worst_name;
    int64_t compared = 0;
    for (const auto& [name, ta] : a.tensors) {
      if (name.rfind(prefix, 0) != 0) continue;
      const Tensor& tb = b.get(name);
      if (ta.shape() != tb.shape()) {
        std::printf("FAIL: %s is %s in A, %s in B\n", name.c_str(), describe(ta).c_str(), describe(tb).c_str());
        return 1;
      }
      const std::vector<double> va = raw::to(ta, DType::F64).to_vector<double>();
      const std::vector<double> vb = raw::to(tb, DType::F64).to_vector<double>();
      double diff = 0;
      for (size_t i = 0; i < va.size(); ++i) {
        const double d = std::fabs(va[i] - vb[i]);
        diff = std::isnan(d) ? INFINITY : std::max(diff, d);
      }
      if (diff > worst) {
        worst = diff;
        worst_name = name;
      }
      ++compared;
    }
    std::printf("%s %lld tensors '%s*': largest difference %.3g (%s), tolerance %.3g\n",
                worst <= tol ? "ok:" : "FAIL:", (long long)compared, prefix.c_str(), worst, worst_name.c_str(), tol);
    return worst <= tol && compared > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_checkpoints: %s\n", e.what());
    return 1;
  }
}
