// CPU matrix products through Eigen. Each 2-D operand is mapped in place as row- or column-major
// (so transposed views cost nothing); batches run in parallel with Eigen single-threaded inside,
// a single large product uses Eigen's own OpenMP parallelism.
#include <omp.h>

#include <Eigen/Core>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/ops.h"

namespace promoe {

namespace {

template <typename T, int Order>
using MatMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, 0, Eigen::OuterStride<>>;

// Row-major if the last dim has unit stride and rows are at least a row apart, column-major in
// the mirrored case; else neither (stride-0 rows of an expanded view, overlapping rows), and the
// operand is copied. A dim of extent 1 may have any stride.
enum class Order { Row, Col, None };
Order order_of(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  if ((s1 == 1 || cols == 1) && (rows == 1 || s0 >= cols)) return Order::Row;
  if ((s0 == 1 || rows == 1) && (cols == 1 || s1 >= rows)) return Order::Col;
  return Order::None;
}

// The leading dimension Eigen sees: the outer stride, or the packed extent when there is one line.
template <typename T, int O>
MatMap<T, O> map(T* p, int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  int64_t ld = O == Eigen::RowMajor ? (rows == 1 ? cols : s0) : (cols == 1 ? rows : s1);
  return MatMap<T, O>(p, rows, cols, Eigen::OuterStride<>(ld));
}

template <typename T, int OA, int OB, int OO>
void gemm(T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N, const int64_t* so, const int64_t* sa,
          const int64_t* sb, T alpha, T beta) {
  auto A = map<T, OA>(const_cast<T*>(a), M, K, sa[0], sa[1]);
  auto B = map<T, OB>(const_cast<T*>(b), K, N, sb[0], sb[1]);
  auto C = map<T, OO>(o, M, N, so[0], so[1]);
  if (beta == T(0)) C.noalias() = alpha * (A * B);
  else C.noalias() = alpha * (A * B) + beta * C;
}

template <typename T, int OA, int OB>
void gemm_out(Order oo, T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N, const int64_t* so,
              const int64_t* sa, const int64_t* sb, T alpha, T beta) {
  if (oo == Order::Row) gemm<T, OA, OB, Eigen::RowMajor>(o, a, b, M, K, N, so, sa, sb, alpha, beta);
  else gemm<T, OA, OB, Eigen::ColMajor>(o, a, b, M, K, N, so, sa, sb, alpha, beta);
}

template <typename T, int OA>
void gemm_b(Order ob, Order oo, T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N, const int64_t* so,
            const int64_t* sa, const int64_t* sb, T alpha, T beta) {
  if (ob == Order::Row) gemm_out<T, OA, Eigen::RowMajor>(oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
  else gemm_out<T, OA, Eigen::ColMajor>(oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
}

}  // namespace

void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  // Operands that are neither row- nor column-major are copied once.
  auto usable = [](const Tensor& t) {
    return order_of(t.size(1), t.size(2), t.stride(1), t.stride(2)) != Order::None ? t : raw::contiguous(t);
  };
  Tensor A = usable(a), B = usable(b);
  Tensor O = order_of(out.size(1), out.size(2), out.stride(1), out.stride(2)) != Order::None
                 ? out
                 : Tensor::empty(out.shape(), out.dtype(), out.device());
  if (!O.same(out) && beta != 0) copy(O, out);
  const int64_t batch = O.size(0), M = O.size(1), K = A.size(2), N = O.size(2);
  const Order oa = order_of(M, K, A.stride(1), A.stride(2)), ob = order_of(K, N, B.stride(1), B.stride(2)),
              oo = order_of(M, N, O.stride(1), O.stride(2));
  const int64_t sa[2] = {A.stride(1), A.stride(2)}, sb[2] = {B.stride(1), B.stride(2)},
                so[2] = {O.stride(1), O.stride(2)};
  PROMOE_DISPATCH_FLOAT(a.dtype(), "matmul", {
    T* po = O.data<T>();
    const T* pa = A.data<T>();
    const T* pb = B.data<T>();
    const T al = T(alpha), bt = T(beta);
    auto one = [&](int64_t i) {
      T* oi = po + i * O.stride(0);
      const T* ai = pa + i * A.stride(0);
      const T* bi = pb + i * B.stride(0);
      if (oa == Order::Row) gemm_b<T, Eigen::RowMajor>(ob, oo, oi, ai, bi, M, K, N, so, sa, sb, al, bt);
      else gemm_b<T, Eigen::ColMajor>(ob, oo, oi, ai, bi, M, K, N, so, sa, sb, al, bt);
    };
    // Enough products to share out: one per thread, Eigen single-threaded inside (it detects the
    // enclosing parallel region). Few or tiny products: one after another, each on Eigen's own
    // threads (Eigen keeps small products single-threaded itself).
    if (batch >= omp_get_max_threads() && batch * M * N * K >= (int64_t(1) << 18)) {
_Pragma("omp parallel for schedule(static)")
      for (int64_t i = 0; i < batch; ++i) one(i);
    } else {
      for (int64_t i = 0; i < batch; ++i) one(i);
    }
  });
  if (!O.same(out)) copy(out, O);
}

}  // namespace promoe
