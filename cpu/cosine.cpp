// The ProMoE router's cosine scores on the CPU: blocks of rows, each one small product against the
// prototypes with the rows' norms and scaling done while the block is in cache; backward alike.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/fused.h"

namespace promoe {

namespace {

constexpr int64_t kRows = 64;  // rows per block

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

namespace {

void cosine_scores(const Tensor& z, const Tensor& rnorm, const Tensor& x, const Tensor& q, double eps) {
  const int64_t tokens = x.size(0), D = x.size(1), E = q.size(0), blocks = (tokens + kRows - 1) / kRows;
  cpu::dispatch_float(x.dtype(), "cosine_scores", [&]<typename T>() {
    Eigen::Map<const RowMajor<T>> X(x.data<T>(), tokens, D), Q(q.data<T>(), E, D);
    Eigen::Map<RowMajor<T>> Z(z.data<T>(), tokens, E);
    T* r = rnorm.data<T>();
#pragma omp parallel for schedule(static) if (tokens * D > 32768)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t r0 = b * kRows, n = std::min(kRows, tokens - r0);
      auto Zb = Z.middleRows(r0, n);
      Zb.noalias() = X.middleRows(r0, n) * Q.transpose();
      for (int64_t i = 0; i < n; ++i) {
        r[r0 + i] = T(1) / std::max(X.row(r0 + i).norm(), T(eps));
        Zb.row(i) *= r[r0 + i];
      }
    }
  });
}

void cosine_scores_backward(const Tensor& gx, const Tensor& gz_scaled, const Tensor& gz, const Tensor& z,
                            const Tensor& x, const Tensor& q, const Tensor& rnorm, double eps) {
  const int64_t tokens = x.size(0), D = x.size(1), E = q.size(0), blocks = (tokens + kRows - 1) / kRows;
  cpu::dispatch_float(x.dtype(), "cosine_scores_backward", [&]<typename T>() {
    Eigen::Map<const RowMajor<T>> X(x.data<T>(), tokens, D), Q(q.data<T>(), E, D), GZ(gz.data<T>(), tokens, E),
        Z(z.data<T>(), tokens, E);
    Eigen::Map<RowMajor<T>> GX(gx.data<T>(), tokens, D), GS(gz_scaled.data<T>(), tokens, E);
    const T* r = rnorm.data<T>();
#pragma omp parallel for schedule(static) if (tokens * D > 32768)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t r0 = b * kRows, n = std::min(kRows, tokens - r0);
      for (int64_t i = 0; i < n; ++i) GS.row(r0 + i) = GZ.row(r0 + i) * r[r0 + i];
      GX.middleRows(r0, n).noalias() = GS.middleRows(r0, n) * Q;
      for (int64_t i = 0; i < n; ++i) {  // d rnorm / d x = -x rnorm^3, 0 where the norm is clamped
        const int64_t t = r0 + i;
        if (!(X.row(t).norm() > T(eps))) continue;
        const T c = GZ.row(t).dot(Z.row(t)) * r[t] * r[t];
        GX.row(t) -= c * X.row(t);
      }
    }
  });
}

// The fast kernels of moe.cosine_scores, moe.cosine_scores_backward.
const bool registered = register_fused_kernel("moe.cosine_scores", DeviceType::CPU, &cosine_scores) &&
                        register_fused_kernel("moe.cosine_scores_backward", DeviceType::CPU, &cosine_scores_backward);

}  // namespace

}  // namespace promoe
