// Fused attention on the CPU: each (image, head) pair runs start to finish on one thread (scores,
// softmax, the product with v; in backward the probabilities rebuilt from the saved log-sum-exp,
// four products and the softmax derivative), so its N x N block lives in a per-thread scratch in
// cache and the whole layer is one parallel loop. `out` is not needed on the CPU: the softmax
// derivative is taken from the rebuilt block itself. Under GemmPrecision::BF16 (tensor/precision.h)
// every product reads its operands rounded to bf16 like the composed attention's GEMMs do: the
// heads of q, k, v and the incoming gradient, the probabilities before P @ v and P^T @ g, and the
// score gradient before its two products; the softmax and its derivative use the f32 blocks.
#include <omp.h>

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/precision.h"

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

template <typename T>
ConstView<T> whole(const Mat<T>& m) {
  return ConstView<T>(m.data(), m.rows(), m.cols(), Eigen::OuterStride<>(m.cols()));
}

// `m` as a product reads it: itself, or under bf16 its copy rounded to bf16 values in `scratch`.
template <typename T>
ConstView<T> operand(const ConstView<T>& m, Mat<T>& scratch, bool bf16) {
  if (!bf16) return m;
  scratch = m.unaryExpr([](T x) { return T(round_to_bf16(float(x))); });
  return whole(scratch);
}

template <typename T>
void round_in_place(Mat<T>& m) {
  m = m.unaryExpr([](T x) { return T(round_to_bf16(float(x))); });
}

// Enough work to share out: every pair is one task.
bool parallel_pairs(const Tensor& q) { return q.size(0) * q.size(1) > 1 && q.numel() * q.size(2) > 65536; }

}  // namespace

void CpuBackend::attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           double scale) {
  const int64_t H = q.size(1), N = q.size(2), pairs = q.size(0) * H;
  const bool bf16 = gemm_rounds_to_bf16(q.dtype());  // read here: the setting is thread-local
  PROMOE_DISPATCH_FLOAT(q.dtype(), "attention", {
_Pragma("omp parallel if (parallel_pairs(q))")
    {
      Mat<T> p(N, k.size(2));  // per-thread scratch: scores, then probabilities
      Mat<T> rq, rk, rv;       // bf16-rounded heads
_Pragma("omp for schedule(static)")
      for (int64_t pair = 0; pair < pairs; ++pair) {
        const ConstView<T> qh = operand(head<T>(q, pair, H), rq, bf16), kh = operand(head<T>(k, pair, H), rk, bf16);
        p.noalias() = T(scale) * (qh * kh.transpose());
        T* row_lse = lse.data<T>() + pair * N;
        for (int64_t i = 0; i < N; ++i) {  // row softmax in place, keeping each row's log-sum-exp
          auto row = p.row(i).array();
          const T mx = row.maxCoeff();
          row = (row - mx).exp();
          const T sum = row.sum();
          row *= T(1) / sum;
          row_lse[i] = mx + std::log(sum);
        }
        if (bf16) round_in_place(p);
        head_out<T>(out, pair, H).noalias() = p * operand(head<T>(v, pair, H), rv, bf16);
      }
    }
  });
}

void CpuBackend::attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, double scale) {
  const int64_t H = q.size(1), N = q.size(2), pairs = q.size(0) * H;
  const bool bf16 = gemm_rounds_to_bf16(q.dtype());  // read here: the setting is thread-local
  PROMOE_DISPATCH_FLOAT(q.dtype(), "attention_backward", {
_Pragma("omp parallel if (parallel_pairs(q))")
    {
      Mat<T> p(N, k.size(2)), gs(N, k.size(2));  // per-thread scratch
      Mat<T> rq, rk, rv, rg, rp;                 // bf16-rounded operands
_Pragma("omp for schedule(static)")
      for (int64_t pair = 0; pair < pairs; ++pair) {
        const ConstView<T> qh = operand(head<T>(q, pair, H), rq, bf16), kh = operand(head<T>(k, pair, H), rk, bf16),
                           vh = operand(head<T>(v, pair, H), rv, bf16), g = operand(head<T>(go, pair, H), rg, bf16);
        // The probabilities again, from the scores and the saved log-sum-exp.
        p.noalias() = T(scale) * (qh * kh.transpose());
        const T* row_lse = lse.data<T>() + pair * N;
        for (int64_t i = 0; i < N; ++i) p.row(i).array() = (p.row(i).array() - row_lse[i]).exp();
        head_out<T>(gv, pair, H).noalias() = operand(whole(p), rp, bf16).transpose() * g;
        gs.noalias() = g * vh.transpose();
        for (int64_t i = 0; i < N; ++i) {  // y * (g - sum(g * y)) per row
          auto gr = gs.row(i).array();
          auto pr = p.row(i).array();
          gr = pr * (gr - (gr * pr).sum());
        }
        if (bf16) round_in_place(gs);
        head_out<T>(gq, pair, H).noalias() = T(scale) * (gs * kh);
        head_out<T>(gk, pair, H).noalias() = T(scale) * (gs.transpose() * qh);
      }
    }
  });
}

}  // namespace promoe
