// The fused bias + GELU(tanh) of an MLP's first layer on the CPU: one pass forward (bias add and
// activation), one backward (activation derivative and the bias gradient's column sums). The
// column sums are taken over fixed blocks of rows and added in block order, so they do not depend
// on the thread count.
#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/eigen_rows.h"
#include "cpu/strided.h"
#include "tensor/scalar_math.h"

namespace promoe {

using cpu::ConstRow;
using cpu::Row;

namespace {
constexpr int64_t kRowBlock = 64;
}  // namespace

void CpuBackend::bias_gelu(const Tensor& out, const Tensor& pre, const Tensor& bias) {
  const int64_t rows = pre.size(0), n = pre.size(1);
  PROMOE_DISPATCH_FLOAT(pre.dtype(), "bias_gelu", {
    T* pp = pre.data<T>();
    T* po = out.data<T>();
    ConstRow<T> b(bias.data<T>(), n);
    const T k = T(math::kSqrt2OverPi), c = T(math::kGeluCoef);
_Pragma("omp parallel for schedule(static) if (rows * n > 32768)")
    for (int64_t r = 0; r < rows; ++r) {
      Row<T> x(pp + r * n, n);
      x += b;
      Row<T>(po + r * n, n) = T(0.5) * x * (T(1) + (k * (x + c * x.cube())).tanh());
    }
  });
}

void CpuBackend::bias_gelu_backward(const Tensor& grad_pre, const Tensor& grad_bias, const Tensor& g,
                                    const Tensor& pre) {
  const int64_t rows = pre.size(0), n = pre.size(1), blocks = (rows + kRowBlock - 1) / kRowBlock;
  PROMOE_DISPATCH_FLOAT(pre.dtype(), "bias_gelu_backward", {
    const T* pp = pre.data<T>();
    const T* pg = g.data<T>();
    T* pgp = grad_pre.data<T>();
    std::vector<T> partial(size_t(blocks * n));
    const T k = T(math::kSqrt2OverPi), c = T(math::kGeluCoef);
_Pragma("omp parallel for schedule(static) if (rows * n > 32768)")
    for (int64_t blk = 0; blk < blocks; ++blk) {
      Row<T> acc(partial.data() + blk * n, n);
      acc.setZero();
      for (int64_t r = blk * kRowBlock; r < std::min(rows, (blk + 1) * kRowBlock); ++r) {
        ConstRow<T> x(pp + r * n, n);
        Row<T> gx(pgp + r * n, n);
        gx = (k * (x + c * x.cube())).tanh();  // t, kept in the output row
        gx = ConstRow<T>(pg + r * n, n) *
             (T(0.5) * (T(1) + gx) + T(0.5) * x * (T(1) - gx.square()) * k * (T(1) + T(3) * c * x.square()));
        acc += gx;
      }
    }
    Row<T> gb(grad_bias.data<T>(), n);
    gb.setZero();
    for (int64_t blk = 0; blk < blocks; ++blk) gb += ConstRow<T>(partial.data() + blk * n, n);
  });
}

}  // namespace promoe
