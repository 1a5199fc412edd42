// Grouped kernels of an expert bank on the CPU: products, linear layers with their bias (+ GELU)
// epilogue, and the bias + GELU backward, over groups of rows (one per busy expert, one for the
// shared expert). Groups are shared out over threads, largest first on a dynamic schedule, each
// group single-threaded inside: many small groups (an expert's few hundred rows) keep every thread
// busy, where one after another each would be too small to share out, and a group's epilogue runs
// while its product's output is still in the thread's cache.
#include <omp.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "cpu/bias_gelu.h"
#include "cpu/cpu_backend.h"
#include "cpu/matmul.h"
#include "cpu/strided.h"
#include "tensor/fused.h"
#include "tensor/precision.h"

namespace promoe {

namespace {

// Runs one(i) for every group i, largest work first, on a dynamic schedule when the total is worth
// sharing out.
void for_each_group(const std::vector<double>& work, const std::function<void(int64_t)>& one) {
  const int64_t n = int64_t(work.size());
  std::vector<int64_t> order(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    order[i] = i;
    total += work[i];
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return work[x] > work[y]; });
#pragma omp parallel for schedule(dynamic, 1) if (n > 1 && total >= double(1 << 20))
  for (int64_t j = 0; j < n; ++j) one(order[j]);
}

// Multiply-adds of each product outs[i] = as[i] @ bs[i].
std::vector<double> product_work(const std::vector<Tensor>& outs, const std::vector<Tensor>& as) {
  std::vector<double> work(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) work[i] = double(outs[i].numel()) * double(as[i].size(1));
  return work;
}

}  // namespace

namespace {

void grouped_matmul(const std::vector<Tensor>& outs, const std::vector<Tensor>& as, const std::vector<Tensor>& bs) {
  const bool bf16 = !outs.empty() && gemm_rounds_to_bf16(as[0].dtype());
  for_each_group(product_work(outs, as),
                 [&](int64_t i) { cpu::product_2d(outs[i], as[i], bs[i], bf16, /*sizes_vary=*/true); });
}

void grouped_linear(const std::vector<Tensor>& outs, const std::vector<Tensor>& gelus, const std::vector<Tensor>& as,
                    const std::vector<Tensor>& bs, const std::vector<Tensor>& biases) {
  if (outs.empty()) return;
  const bool bf16 = gemm_rounds_to_bf16(as[0].dtype());
  cpu::dispatch_float(outs[0].dtype(), "grouped_linear", [&]<typename T>() {
    for_each_group(product_work(outs, as), [&](int64_t i) {
      cpu::product_2d(outs[i], as[i], bs[i], bf16, /*sizes_vary=*/true);
      const int64_t rows = outs[i].size(0), n = outs[i].size(1);
      T* o = outs[i].data<T>();
      const T* b = biases[i].data<T>();
      if (!gelus.empty()) {
        cpu::bias_gelu_rows(o, gelus[i].data<T>(), b, 0, rows, n);
      } else {
        for (int64_t r = 0; r < rows; ++r) cpu::Row<T>(o + r * n, n) += cpu::ConstRow<T>(b, n);
      }
    });
  });
}

void grouped_bias_gelu_backward(const std::vector<Tensor>& grad_pres, const std::vector<Tensor>& grad_biases,
                                const std::vector<Tensor>& gs, const std::vector<Tensor>& pres) {
  if (pres.empty()) return;
  std::vector<double> work(pres.size());
  for (size_t i = 0; i < pres.size(); ++i) work[i] = 16.0 * double(pres[i].numel());  // ~ a tanh per element
  cpu::dispatch_float(pres[0].dtype(), "grouped_bias_gelu_backward", [&]<typename T>() {
    for_each_group(work, [&](int64_t i) {
      cpu::bias_gelu_backward_serial(grad_pres[i].data<T>(), grad_biases[i].data<T>(), gs[i].data<T>(),
                                     pres[i].data<T>(), pres[i].size(0), pres[i].size(1));
    });
  });
}

// The fast kernels of moe.grouped_bias_gelu_backward, moe.grouped_linear, moe.grouped_matmul.
const bool registered =
    register_fused_kernel("moe.grouped_matmul", DeviceType::CPU, &grouped_matmul) &&
    register_fused_kernel("moe.grouped_linear", DeviceType::CPU, &grouped_linear) &&
    register_fused_kernel("moe.grouped_bias_gelu_backward", DeviceType::CPU, &grouped_bias_gelu_backward);

}  // namespace

}  // namespace promoe
