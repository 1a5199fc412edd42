// The fused bias + GELU(tanh) of an MLP's first layer on the CPU: one pass forward (bias add and
// activation), one backward (activation derivative and the bias gradient's column sums), rows
// shared out over threads. The column sums are taken over fixed blocks of rows and added in block
// order, so they do not depend on the thread count.
#include "cpu/bias_gelu.h"

#include <algorithm>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/fused.h"

namespace promoe {

namespace {

void bias_gelu(const Tensor& out, const Tensor& pre, const Tensor& bias) {
  const int64_t rows = pre.size(0), n = pre.size(1);
  cpu::dispatch_float(pre.dtype(), "bias_gelu", [&]<typename T>() {
    T* pp = pre.data<T>();
    T* po = out.data<T>();
    const T* pb = bias.data<T>();
#pragma omp parallel for schedule(static) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; ++r) cpu::bias_gelu_rows(pp, po, pb, r, r + 1, n);
  });
}

void bias_gelu_backward(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g, const Tensor& pre) {
  constexpr int64_t block = cpu::kBiasGeluRowBlock;
  const int64_t rows = pre.size(0), n = pre.size(1), blocks = (rows + block - 1) / block;
  cpu::dispatch_float(pre.dtype(), "bias_gelu_backward", [&]<typename T>() {
    const T* pp = pre.data<T>();
    const T* pg = g.data<T>();
    T* pgp = grad_pre.data<T>();
    std::vector<T> partial(size_t(blocks * n), T(0));
#pragma omp parallel for schedule(static) if (rows * n > 32768)
    for (int64_t blk = 0; blk < blocks; ++blk)
      cpu::bias_gelu_backward_rows(pgp, partial.data() + blk * n, pg, pp, blk * block,
                                   std::min(rows, (blk + 1) * block), n);
    cpu::Row<T> gb(grad_bias.data<T>(), n);
    gb.setZero();
    for (int64_t blk = 0; blk < blocks; ++blk) gb += cpu::ConstRow<T>(partial.data() + blk * n, n);
  });
}

// The fast kernels of nn.bias_gelu, nn.bias_gelu_backward.
const bool registered = register_fused_kernel("nn.bias_gelu", DeviceType::CPU, &bias_gelu) &&
                        register_fused_kernel("nn.bias_gelu_backward", DeviceType::CPU, &bias_gelu_backward);

}  // namespace

}  // namespace promoe
