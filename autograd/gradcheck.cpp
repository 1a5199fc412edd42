// Finite-difference gradient checking: analytic gradients from one backward pass against central
// differences of a randomly weighted sum of the outputs.
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/ops.h"

namespace promoe {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                          const GradcheckOptions& options) {
  for (Tensor& t : inputs) {
    PROMOE_CHECK(t.dtype() == DType::F64 && t.device().is_cpu(), "gradcheck: inputs must be f64 on the CPU, got ",
                 describe(t));
    bool rg = t.requires_grad();
    t = raw::clone(t);  // contiguous storage that the checker may perturb in place
    t.set_requires_grad(rg);
  }
  Tensor out0;
  {
    NoGradGuard ng;
    out0 = f(inputs);
  }
  Generator gen(options.seed);
  Tensor w = gen.uniform(out0.shape(), 0.5, 1.5, DType::F64);
  auto objective = [&]() {
    NoGradGuard ng;
    return raw::sum(raw::mul(f(inputs), w)).item();
  };

  Tensor loss = sum(mul(f(inputs), w));
  PROMOE_CHECK(loss.requires_grad(), "gradcheck: output does not depend on any input that requires grad");
  loss.backward();

  GradcheckResult result;
  std::ostringstream report;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    std::vector<double> analytic = g.defined() ? g.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    double worst = 0;
    int64_t worst_at = -1;
    double worst_a = 0, worst_n = 0;
    for (int64_t j = 0; j < x.numel(); ++j) {
      double keep = p[j];
      p[j] = keep + options.eps;
      double up = objective();
      p[j] = keep - options.eps;
      double down = objective();
      p[j] = keep;
      double numeric = (up - down) / (2 * options.eps);
      double excess = std::abs(analytic[j] - numeric) - (options.atol + options.rtol * std::abs(numeric));
      if (worst_at < 0 || excess > worst) {
        worst = excess;
        worst_at = j;
        worst_a = analytic[j];
        worst_n = numeric;
      }
    }
    if (worst_at >= 0 && worst > 0) {
      result.ok = false;
      report << "input " << i << " " << describe(x) << ": element " << worst_at << " analytic " << worst_a
             << " numeric " << worst_n << "\n";
    }
  }
  result.report = report.str();
  return result;
}

}  // namespace promoe
