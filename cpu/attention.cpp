// Fused attention on the CPU: each (image, head) pair runs start to finish on one thread (scores,
// softmax, the product with v; in backward the probabilities rebuilt from the saved log-sum-exp,
// four products and the softmax derivative), so its N x N block lives in a per-thread scratch in
// cache and the whole layer is one parallel loop. `out` is not needed on the CPU: the softmax
// derivative is taken from the rebuilt block itself. Under GemmPrecision::BF16 (tensor/precision.h)
// every product reads its operands rounded to bf16 like the composed attention's GEMMs do: the
// heads of q, k, v and the incoming gradient, the probabilities before P @ v and P^T @ g, and the
// score gradient before its two products; the softmax and its derivative use the f32 blocks. Those
// products run on the CPU's bf16 units where it has them (cpu/bf16_matmul.h), else on rounded copies.
// In f32 the forward's two products and the backward's rebuilt scores are cpu::head_product's
// (cpu/head_product.h): at head sizes a call to oneDNN's sgemm costs about as much as its products.
#include <omp.h>

#include <Eigen/Core>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/bf16_matmul.h"
#include "cpu/cpu_backend.h"
#include "cpu/head_product.h"
#include "cpu/matmul.h"
#include "cpu/strided.h"
#include "tensor/fused.h"
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
template <typename T>
View<T> whole_out(Mat<T>& m) {
  return View<T>(m.data(), m.rows(), m.cols(), Eigen::OuterStride<>(m.cols()));
}

// How the products multiply: as they are, on copies rounded to bf16, or on the bf16 units.
enum class Mode { Plain, Rounded, Native };

// A product operand: a head-sized matrix, or its transpose.
template <typename T>
struct Operand {
  ConstView<T> m;
  bool transposed;
};
template <typename T>
Operand<T> as_is(const ConstView<T>& m) {
  return {m, false};
}
template <typename T>
Operand<T> transpose_of(const ConstView<T>& m) {
  return {m, true};
}

// Per-thread scratch of one pair loop: the score block, the score gradient, rounded operands and
// the transposed k of head_product's scores.
template <typename T>
struct Scratch {
  Mat<T> p, gs, ra, rb, kt;
};

// The operand rounded to bf16, transposed if asked, into `r`.
template <typename T>
ConstView<T> rounded(const Operand<T>& x, Mat<T>& r) {
  auto round = [](T v) { return T(round_to_bf16(float(v))); };
  if (x.transposed)
    r = x.m.transpose().unaryExpr(round);
  else
    r = x.m.unaryExpr(round);
  return whole(r);
}

// out = alpha * a @ b in the given mode (out's old values are not read).
template <typename T>
void product(View<T> out, const Operand<T>& a, const Operand<T>& b, T alpha, Mode mode, Scratch<T>& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (mode == Mode::Native) {
      const int64_t K = a.transposed ? a.m.rows() : a.m.cols();
      if (cpu::native_bf16_matmul(out.data(), out.outerStride(), true, {a.m.data(), a.m.outerStride(), !a.transposed},
                                  {b.m.data(), b.m.outerStride(), !b.transposed}, out.rows(), K, out.cols(), alpha,
                                  0.0f, false))
        return;
    }
  }
  if (mode != Mode::Plain) {
    product<T>(out, as_is(rounded(a, s.ra)), as_is(rounded(b, s.rb)), alpha, Mode::Plain, s);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {  // oneDNN's sgemm beats Eigen at head sizes (docs/PERF.md)
    const int64_t K = a.transposed ? a.m.rows() : a.m.cols();
    if (cpu::onednn_sgemm(a.transposed, b.transposed, out.rows(), out.cols(), K, alpha, a.m.data(), a.m.outerStride(),
                          b.m.data(), b.m.outerStride(), out.data(), out.outerStride()))
      return;
  }
  if (!a.transposed && !b.transposed)
    out.noalias() = alpha * (a.m * b.m);
  else if (!a.transposed)
    out.noalias() = alpha * (a.m * b.m.transpose());
  else if (!b.transposed)
    out.noalias() = alpha * (a.m.transpose() * b.m);
  else
    out.noalias() = alpha * (a.m.transpose() * b.m.transpose());
}

// The mode for the products of q (B, H, N, hd) under the calling thread's GEMM precision (read
// before any parallel region: the setting is thread-local). The bf16 units pay a fixed cost per
// call (operand conversion, primitive lookup) that small heads do not recover, so small heads run
// on rounded copies instead (timings in docs/PERF.md, "Measurements behind choices in the code").
Mode mode_for(const Tensor& q) {
  if (!gemm_rounds_to_bf16(q.dtype())) return Mode::Plain;
  const int64_t macs = q.size(2) * q.size(2) * q.size(3);
  return cpu::native_bf16_enabled() && macs >= (int64_t(1) << 20) ? Mode::Native : Mode::Rounded;
}

// s.p = scale * qh @ kh^T: the scores of one pair.
template <typename T>
void scores(const ConstView<T>& qh, const ConstView<T>& kh, T scale, Mode mode, Scratch<T>& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (mode == Mode::Plain) {
      s.kt = kh.transpose();  // (hd, N) row-major: the product's right operand, read by rows
      cpu::head_product(qh.rows(), kh.rows(), qh.cols(), scale, qh.data(), qh.outerStride(), s.kt.data(), s.kt.cols(),
                        s.p.data(), s.p.cols());
      return;
    }
  }
  product<T>(whole_out(s.p), as_is(qh), transpose_of(kh), scale, mode, s);
}

// out = s.p @ vh: the probabilities' product with the values of one pair.
template <typename T>
void weighted_values(View<T> out, const ConstView<T>& vh, Mode mode, Scratch<T>& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (mode == Mode::Plain) {
      cpu::head_product(s.p.rows(), vh.cols(), s.p.cols(), 1.0f, s.p.data(), s.p.cols(), vh.data(), vh.outerStride(),
                        out.data(), out.outerStride());
      return;
    }
  }
  product<T>(out, as_is(whole(s.p)), as_is(vh), T(1), mode, s);
}

// Enough work to share out: every pair is one task.
bool parallel_pairs(const Tensor& q) { return q.size(0) * q.size(1) > 1 && q.numel() * q.size(2) > 65536; }

}  // namespace

namespace {

void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const int64_t H = q.size(1), N = q.size(2), pairs = q.size(0) * H;
  const Mode mode = mode_for(q);
  cpu::dispatch_float(q.dtype(), "attention", [&]<typename T>() {
    {
#pragma omp parallel if (parallel_pairs(q))
      {
        thread_local Scratch<T> s;
        s.p.resize(N, k.size(2));  // scores, then probabilities
#pragma omp for schedule(static)
        for (int64_t pair = 0; pair < pairs; ++pair) {
          scores<T>(head<T>(q, pair, H), head<T>(k, pair, H), T(scale), mode, s);
          T* row_lse = lse.data<T>() + pair * N;
          for (int64_t i = 0; i < N; ++i) {  // row softmax in place, keeping each row's log-sum-exp
            auto row = s.p.row(i).array();
            const T mx = row.maxCoeff();
            row = (row - mx).exp();
            const T sum = row.sum();
            row *= T(1) / sum;
            row_lse[i] = mx + std::log(sum);
          }
          weighted_values<T>(head_out<T>(out, pair, H), head<T>(v, pair, H), mode, s);
        }
      }
    }
  });
}

void attention_backward(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, double scale) {
  const int64_t H = q.size(1), N = q.size(2), pairs = q.size(0) * H;
  const Mode mode = mode_for(q);
  cpu::dispatch_float(q.dtype(), "attention_backward", [&]<typename T>() {
#pragma omp parallel if (parallel_pairs(q))
    {
      thread_local Scratch<T> s;
      s.p.resize(N, k.size(2));
      s.gs.resize(N, k.size(2));
#pragma omp for schedule(static)
      for (int64_t pair = 0; pair < pairs; ++pair) {
        const ConstView<T> qh = head<T>(q, pair, H), kh = head<T>(k, pair, H), vh = head<T>(v, pair, H),
                           g = head<T>(go, pair, H);
        // The probabilities again, from the scores and the saved log-sum-exp.
        scores<T>(qh, kh, T(scale), mode, s);
        const T* row_lse = lse.data<T>() + pair * N;
        for (int64_t i = 0; i < N; ++i) s.p.row(i).array() = (s.p.row(i).array() - row_lse[i]).exp();
        product<T>(head_out<T>(gv, pair, H), transpose_of(whole(s.p)), as_is(g), T(1), mode, s);
        product<T>(whole_out(s.gs), as_is(g), transpose_of(vh), T(1), mode, s);
        for (int64_t i = 0; i < N; ++i) {  // y * (g - sum(g * y)) per row
          auto gr = s.gs.row(i).array();
          auto pr = s.p.row(i).array();
          gr = pr * (gr - (gr * pr).sum());
        }
        product<T>(head_out<T>(gq, pair, H), as_is(whole(s.gs)), as_is(kh), T(scale), mode, s);
        product<T>(head_out<T>(gk, pair, H), transpose_of(whole(s.gs)), as_is(qh), T(scale), mode, s);
      }
    }
  });
}

// The fast kernels of nn.attention, nn.attention_backward.
const bool registered = register_fused_kernel("nn.attention", DeviceType::CPU, &attention) &&
                        register_fused_kernel("nn.attention_backward", DeviceType::CPU, &attention_backward);

}  // namespace

}  // namespace promoe
