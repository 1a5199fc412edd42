// Fused attention on the CPU: each (image, head) pair runs start to finish on one thread (scores,
// softmax, the product with v; in backward the probabilities rebuilt from the saved log-sum-exp,
// four products and the softmax derivative), so its N x N block lives in a per-thread scratch in
// cache and the whole layer is one parallel loop. `out` is not needed on the CPU: the softmax
// derivative is taken from the rebuilt block itself.
#include <omp.h>

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"

namespace promoe {

namespace {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using View = Eigen::Map<Mat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using ConstView = Eigen::Map<const Mat<T>, 0, Eigen::OuterStride<>>;

// Element offset of head (b, h) in a (B, H, N, hd) view.
int64_t head_offset(const Tensor& t, int64_t pair, int64_t H) {
  return (pair / H) * t.stride(0) + (pair % H) * t.stride(1);
}

template <typename T>
ConstView<T> head(const Tensor& t, int64_t pair, int64_t H) {
  return ConstView<T>(t.data<T>() + head_offset(t, pair, H), t.size(2), t.size(3), Eigen::OuterStride<>(t.stride(2)));
}

template <typename T>
View<T> head_out(const Tensor& t, int64_t pair, int64_t H) {
  return View<T>(t.data<T>() + head_offset(t, pair, H), t.size(2), t.size(3), Eigen::OuterStride<>(t.stride(2)));
}

// Enough work to share out: every pair is one task.
bool parallel_pairs(const Tensor& q) { return q.size(0) * q.size(1) > 1 && q.numel() * q.size(2) > 65536; }

}  // namespace

void CpuBackend::attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           double scale) {
  const int64_t H = q.size(1), N = q.size(2), pairs = q.size(0) * H;
  PROMOE_DISPATCH_FLOAT(q.dtype(), "attention", {
_Pragma("omp parallel if (parallel_pairs(q))")
    {
      Mat<T> p(N, k.size(2));  // per-thread scratch: scores, then probabilities
_Pragma("omp for schedule(static)")
      for (int64_t pair = 0; pair < pairs; ++pair) {
        p.noalias() = T(scale) * (head<T>(q, pair, H) * head<T>(k, pair, H).transpose());
        T* row_lse = lse.data<T>() + pair * N;
        for (int64_t i = 0; i < N; ++i) {  // row softmax in place, keeping each row's log-sum-exp
          auto row = p.row(i).array();
          const T mx = row.maxCoeff();
          row = (row - mx).exp();
          const T sum = row.sum();
          row *= T(1) / sum;
          row_lse[i] = mx + std::log(sum);
        }
        head_out<T>(out, pair, H).noalias() = p * head<T>(v, pair, H);
      }
    }
  });
}

void CpuBackend::attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, double scale) {
  const int64_t H = q.size(1), N = q.size(2), pairs = q.size(0) * H;
  PROMOE_DISPATCH_FLOAT(q.dtype(), "attention_backward", {
_Pragma("omp parallel if (parallel_pairs(q))")
    {
      Mat<T> p(N, k.size(2)), gs(N, k.size(2));  // per-thread scratch
_Pragma("omp for schedule(static)")
      for (int64_t pair = 0; pair < pairs; ++pair) {
        // The probabilities again, from the scores and the saved log-sum-exp.
        p.noalias() = T(scale) * (head<T>(q, pair, H) * head<T>(k, pair, H).transpose());
        const T* row_lse = lse.data<T>() + pair * N;
        for (int64_t i = 0; i < N; ++i) p.row(i).array() = (p.row(i).array() - row_lse[i]).exp();
        ConstView<T> g = head<T>(go, pair, H);
        head_out<T>(gv, pair, H).noalias() = p.transpose() * g;
        gs.noalias() = g * head<T>(v, pair, H).transpose();
        for (int64_t i = 0; i < N; ++i) {  // y * (g - sum(g * y)) per row
          auto gr = gs.row(i).array();
          auto pr = p.row(i).array();
          gr = pr * (gr - (gr * pr).sum());
        }
        head_out<T>(gq, pair, H).noalias() = T(scale) * (gs * head<T>(k, pair, H));
        head_out<T>(gk, pair, H).noalias() = T(scale) * (gs.transpose() * head<T>(q, pair, H));
      }
    }
  });
}

}  // namespace promoe
