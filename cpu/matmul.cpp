// CPU matrix products. Each 2-D operand is used in place as row- or column-major (so transposed
// views cost nothing), batch dims of any strides are walked in place; batches run in parallel with
// the GEMM single-threaded inside, a single large product uses the GEMM's own OpenMP parallelism.
// float products go to oneDNN's sgemm where the build has it (about 1.3x Eigen's GEMM on AVX-512 at
// the model's shapes, and no zero-fill of the output); double products, and every product in a
// build without oneDNN, go through Eigen. Under GemmPrecision::BF16 (tensor/precision.h) a float
// product runs on the CPU's bf16 units where it has them (cpu/bf16_matmul.h); elsewhere it copies
// each operand matrix, rounded to bf16 values (exact in f32), into row-major scratch and multiplies
// those: the readable reference for bf16 mixed precision.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <vector>
#ifdef PROMOE_WITH_ONEDNN
#include <dnnl.h>
#endif

#include "cpu/bf16_matmul.h"
#include "cpu/cpu_backend.h"
#include "cpu/matmul.h"
#include "cpu/strided.h"
#include "tensor/ops.h"
#include "tensor/precision.h"

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

#ifdef PROMOE_WITH_ONEDNN
// An operand as oneDNN's row-major sgemm reads it: 'N' with its row stride, or 'T' (a column-major
// matrix is the transpose of a row-major one) with its column stride.
struct SgemmOperand {
  char trans;
  int64_t ld;
};
SgemmOperand sgemm_operand(Order o, int64_t rows, int64_t cols, const int64_t* s, bool transposed) {
  const bool row = (o == Order::Row) != transposed;  // transposing flips the order
  const int64_t r = transposed ? cols : rows, c = transposed ? rows : cols;
  if (row) return {'N', r == 1 ? c : (transposed ? s[1] : s[0])};
  return {'T', c == 1 ? r : (transposed ? s[0] : s[1])};
}

// out (M, N) = alpha a (M, K) @ b (K, N) + beta out. A column-major out is written as the
// row-major out^T = b^T a^T.
void sgemm(Order oa, Order ob, Order oo, float* o, const float* a, const float* b, int64_t M, int64_t K, int64_t N,
           const int64_t* so, const int64_t* sa, const int64_t* sb, float alpha, float beta) {
  dnnl_status_t st;
  if (oo == Order::Row) {
    SgemmOperand A = sgemm_operand(oa, M, K, sa, false), B = sgemm_operand(ob, K, N, sb, false);
    st = dnnl_sgemm(A.trans, B.trans, M, N, K, alpha, a, A.ld, b, B.ld, beta, o, M == 1 ? N : so[0]);
  } else {
    SgemmOperand Bt = sgemm_operand(ob, K, N, sb, true), At = sgemm_operand(oa, M, K, sa, true);
    st = dnnl_sgemm(Bt.trans, At.trans, N, M, K, alpha, b, Bt.ld, a, At.ld, beta, o, N == 1 ? M : so[1]);
  }
  PROMOE_CHECK(st == dnnl_success, "matmul: oneDNN sgemm failed with status ", int(st), " for ", M, "x", K, "x", N);
}

// float products go to oneDNN (returns true); other dtypes stay with Eigen.
bool through_onednn(Order oa, Order ob, Order oo, float* o, const float* a, const float* b, int64_t M, int64_t K,
                    int64_t N, const int64_t* so, const int64_t* sa, const int64_t* sb, float alpha, float beta) {
  sgemm(oa, ob, oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
  return true;
}
template <typename T>
bool through_onednn(Order, Order, Order, T*, const T*, const T*, int64_t, int64_t, int64_t, const int64_t*,
                    const int64_t*, const int64_t*, T, T) {
  return false;
}
#endif

template <typename T, int OA, int OB, int OO>
void gemm(T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N, const int64_t* so, const int64_t* sa,
          const int64_t* sb, T alpha, T beta) {
  auto A = map<T, OA>(const_cast<T*>(a), M, K, sa[0], sa[1]);
  auto B = map<T, OB>(const_cast<T*>(b), K, N, sb[0], sb[1]);
  auto C = map<T, OO>(o, M, N, so[0], so[1]);
  if (beta == T(0))
    C.noalias() = alpha * (A * B);
  else
    C.noalias() = alpha * (A * B) + beta * C;
}

template <typename T, int OA, int OB>
void gemm_out(Order oo, T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N, const int64_t* so,
              const int64_t* sa, const int64_t* sb, T alpha, T beta) {
  if (oo == Order::Row)
    gemm<T, OA, OB, Eigen::RowMajor>(o, a, b, M, K, N, so, sa, sb, alpha, beta);
  else
    gemm<T, OA, OB, Eigen::ColMajor>(o, a, b, M, K, N, so, sa, sb, alpha, beta);
}

template <typename T, int OA>
void gemm_b(Order ob, Order oo, T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N, const int64_t* so,
            const int64_t* sa, const int64_t* sb, T alpha, T beta) {
  if (ob == Order::Row)
    gemm_out<T, OA, Eigen::RowMajor>(oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
  else
    gemm_out<T, OA, Eigen::ColMajor>(oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
}

// One product o (M, N) = alpha a (M, K) @ b (K, N) + beta o of operands in the given orders.
template <typename T>
void gemm_any(Order oa, Order ob, Order oo, T* o, const T* a, const T* b, int64_t M, int64_t K, int64_t N,
              const int64_t* so, const int64_t* sa, const int64_t* sb, T alpha, T beta) {
#ifdef PROMOE_WITH_ONEDNN
  if (through_onednn(oa, ob, oo, o, a, b, M, K, N, so, sa, sb, alpha, beta)) return;
#endif
  if (oa == Order::Row)
    gemm_b<T, Eigen::RowMajor>(ob, oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
  else
    gemm_b<T, Eigen::ColMajor>(ob, oo, o, a, b, M, K, N, so, sa, sb, alpha, beta);
}

// Under bf16: the product on the CPU's bf16 units where it has them (cpu/bf16_matmul.h); false
// where it has not, and for double (which never reaches here under bf16).
bool native_bf16(Order oa, Order ob, Order oo, float* o, const float* a, const float* b, int64_t M, int64_t K,
                 int64_t N, const int64_t* so, const int64_t* sa, const int64_t* sb, float alpha, float beta,
                 bool sizes_vary) {
  auto ld = [](Order ord, const int64_t* s) { return ord == Order::Row ? s[0] : s[1]; };
  return cpu::native_bf16_matmul(o, ld(oo, so), oo == Order::Row, {a, ld(oa, sa), oa == Order::Row},
                                 {b, ld(ob, sb), ob == Order::Row}, M, K, N, alpha, beta, sizes_vary);
}
template <typename T>
bool native_bf16(Order, Order, Order, T*, const T*, const T*, int64_t, int64_t, int64_t, const int64_t*, const int64_t*,
                 const int64_t*, T, T, bool) {
  return false;
}

// The (rows, cols) matrix at p with strides s, rounded to bf16 values, packed row-major.
template <typename T>
std::vector<T> bf16_rows(const T* p, int64_t rows, int64_t cols, const int64_t* s) {
  std::vector<T> r(size_t(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) r[size_t(i * cols + j)] = T(round_to_bf16(float(p[i * s[0] + j * s[1]])));
  return r;
}

// out = alpha * a @ b + beta * out over any number of batch dims (equal shapes, any strides):
// every product is mapped in place at its own offsets, and all of them run in one parallel loop.
// `bf16`: read the operands rounded to bf16 (the caller's gemm_rounds_to_bf16, taken on its own
// thread since the setting is thread-local); `sizes_vary`: see cpu::native_bf16_matmul.
void products(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta, bool bf16,
              bool sizes_vary = false) {
  const int64_t nb = out.dim() - 2;
  // Matrices that are neither row- nor column-major are copied once (rare: stride-0 rows, steps).
  auto usable = [nb](const Tensor& t) {
    return order_of(t.size(nb), t.size(nb + 1), t.stride(nb), t.stride(nb + 1)) != Order::None ? t : raw::contiguous(t);
  };
  Tensor A = usable(a), B = usable(b);
  Tensor O = usable(out);  // a copy holds out's values, for beta
  const int64_t M = O.size(nb), K = A.size(nb + 1), N = O.size(nb + 1);
  const Order oa = order_of(M, K, A.stride(nb), A.stride(nb + 1)), ob = order_of(K, N, B.stride(nb), B.stride(nb + 1)),
              oo = order_of(M, N, O.stride(nb), O.stride(nb + 1));
  const int64_t sa[2] = {A.stride(nb), A.stride(nb + 1)}, sb[2] = {B.stride(nb), B.stride(nb + 1)},
                so[2] = {O.stride(nb), O.stride(nb + 1)};
  int64_t batch = 1;
  for (int64_t d = 0; d < nb; ++d) batch *= O.size(d);
  // Element offset of product i in `t` (row-major over the batch dims).
  auto offset = [nb](const Tensor& t, int64_t i) {
    int64_t off = 0;
    for (int64_t d = nb - 1; d >= 0; --d) {
      off += (i % t.size(d)) * t.stride(d);
      i /= t.size(d);
    }
    return off;
  };
  cpu::dispatch_float(a.dtype(), "matmul", [&]<typename T>() {
    T* po = O.data<T>();
    const T* pa = A.data<T>();
    const T* pb = B.data<T>();
    const T al = T(alpha), bt = T(beta);
    auto one = [&](int64_t i) {
      T* oi = po + offset(O, i);
      const T* ai = pa + offset(A, i);
      const T* bi = pb + offset(B, i);
      if (bf16 && native_bf16(oa, ob, oo, oi, ai, bi, M, K, N, so, sa, sb, al, bt, sizes_vary)) return;
      if (bf16) {
        const std::vector<T> ra = bf16_rows(ai, M, K, sa), rb = bf16_rows(bi, K, N, sb);
        const int64_t sra[2] = {K, 1}, srb[2] = {N, 1};
        gemm_any(Order::Row, Order::Row, oo, oi, ra.data(), rb.data(), M, K, N, so, sra, srb, al, bt);
      } else {
        gemm_any(oa, ob, oo, oi, ai, bi, M, K, N, so, sa, sb, al, bt);
      }
    };
    // Enough products to share out: one per thread, the GEMM single-threaded inside (Eigen and
    // oneDNN both detect the enclosing parallel region). Few or tiny products: one after another,
    // each on the GEMM's own threads (both keep small products single-threaded themselves).
    if (batch >= omp_get_max_threads() && batch * M * N * K >= (int64_t(1) << 18)) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < batch; ++i) one(i);
    } else {
      for (int64_t i = 0; i < batch; ++i) one(i);
    }
  });
  if (!O.same(out)) cpu_backend().copy(out, O);
}

}  // namespace

void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  products(out, a, b, alpha, beta, gemm_rounds_to_bf16(a.dtype()));
}

bool cpu::onednn_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                       int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
#ifdef PROMOE_WITH_ONEDNN
  const dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, a, lda, b, ldb, 0.0f, c, ldc);
  PROMOE_CHECK(st == dnnl_success, "matmul: oneDNN sgemm failed with status ", int(st), " for ", M, "x", K, "x", N);
  return true;
#else
  (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb;
  (void)c, (void)ldc;
  return false;
#endif
}

void cpu::product_2d(const Tensor& out, const Tensor& a, const Tensor& b, bool bf16, bool sizes_vary) {
  products(raw::unsqueeze(out, 0), raw::unsqueeze(a, 0), raw::unsqueeze(b, 0), 1.0, 0.0, bf16, sizes_vary);
}

// One parallel loop over all products, whatever the batch strides: no folding, no copies.
void CpuBackend::batched_matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  products(out, a, b, alpha, 0.0, gemm_rounds_to_bf16(a.dtype()));
}

}  // namespace promoe
