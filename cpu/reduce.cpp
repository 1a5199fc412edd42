// CPU reductions: sum/mean/max/min over trailing dims, and max/min with indices over the last dim.
// Floating sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"

namespace promoe {

namespace {

// Reduces the `red` region (collapsed shape and strides) starting at `x` into one double.
template <typename T>
double reduce_region(ReduceOp op, const T* x, const cpu::Layout<1>& red, bool parallel) {
  const Shape& shape = red.shape;
  const Shape& st = red.strides[0];
  const int64_t nd = int64_t(shape.size());
  const int64_t inner = shape.back(), is = st.back();
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= shape[d];
  auto row_base = [&](int64_t o) {
    int64_t off = 0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      off += (o % shape[d]) * st[d];
      o /= shape[d];
    }
    return off;
  };
  if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
    double acc = 0;
    if (parallel && outer == 1) {
#pragma omp parallel for reduction(+ : acc) schedule(static)
      for (int64_t i = 0; i < inner; ++i) acc += double(x[i * is]);
    } else {
#pragma omp parallel for reduction(+ : acc) schedule(static) if (parallel)
      for (int64_t o = 0; o < outer; ++o) {
        const T* p = x + row_base(o);
        double a = 0;
        for (int64_t i = 0; i < inner; ++i) a += double(p[i * is]);
        acc += a;
      }
    }
    if (op == ReduceOp::Mean) acc /= double(outer * inner);
    return acc;
  }
  const bool is_max = op == ReduceOp::Max;
  double best = is_max ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  bool nan = false;
  for (int64_t o = 0; o < outer; ++o) {
    const T* p = x + row_base(o);
    for (int64_t i = 0; i < inner; ++i) {
      double v = double(p[i * is]);
      if (std::isnan(v)) nan = true;
      best = is_max ? std::max(best, v) : std::min(best, v);
    }
  }
  return nan ? std::numeric_limits<double>::quiet_NaN() : best;
}

// Sum/mean where the innermost kept dim is contiguous and no reduced dim is: each output row of
// `inner` values accumulates whole contiguous input rows (vectorised), instead of striding through
// the input once per output element. This is the shape of bias gradients (sum over tokens) and of
// broadcast gradients (sum over the tokens of each image). Returns false when it does not apply.
template <typename T>
bool column_sums(ReduceOp op, T* out, const T* x, const Shape& kept_shape, const Shape& kept_strides,
                 const cpu::Layout<1>& red) {
  if ((op != ReduceOp::Sum && op != ReduceOp::Mean) || kept_shape.empty() || kept_strides.back() != 1) return false;
  for (int64_t s : red.strides[0])
    if (s == 1) return false;
  const int64_t inner = kept_shape.back(), nk = int64_t(kept_shape.size());
  int64_t outer = 1, rows = 1;
  for (int64_t d = 0; d + 1 < nk; ++d) outer *= kept_shape[d];
  for (int64_t s : red.shape) rows *= s;
  const int64_t nr = int64_t(red.shape.size());
  const double scale = op == ReduceOp::Mean ? 1.0 / double(rows) : 1.0;
  // Tasks are (outer row, block of 256 columns, slice of the reduced rows); each sums its rows in
  // a fixed order into double partials, and the slices are added in order afterwards. Slices are
  // cut only when there are too few (outer, block) tasks to share out (a bias gradient: one
  // output row of 128 columns over thousands of tokens), and their count depends on the sizes
  // alone, so results do not depend on the thread count.
  const int64_t blocks = (inner + 255) / 256;
  const int64_t slices = outer * blocks >= 8 ? 1 : std::clamp<int64_t>(rows / 256, 1, 16);
  const int64_t tasks = outer * blocks * slices, per_slice = (rows + slices - 1) / slices;
  std::vector<double> partial(size_t(tasks) * 256);
#pragma omp parallel for schedule(static) if (tasks > 1 && outer * inner * rows > 65536)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t ob = task / slices, sl = task % slices;
    const int64_t o = ob / blocks, c0 = (ob % blocks) * 256, n = std::min<int64_t>(256, inner - c0);
    int64_t base = c0;
    for (int64_t d = nk - 2, rem = o; d >= 0; --d) {
      base += (rem % kept_shape[d]) * kept_strides[d];
      rem /= kept_shape[d];
    }
    double* acc = partial.data() + task * 256;
    for (int64_t r = sl * per_slice; r < std::min(rows, (sl + 1) * per_slice); ++r) {
      int64_t off = base;
      for (int64_t d = nr - 1, rem = r; d >= 0; --d) {
        off += (rem % red.shape[d]) * red.strides[0][d];
        rem /= red.shape[d];
      }
      const T* row = x + off;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) acc[i] += double(row[i]);
    }
  }
  for (int64_t ob = 0; ob < outer * blocks; ++ob) {
    const int64_t o = ob / blocks, c0 = (ob % blocks) * 256, n = std::min<int64_t>(256, inner - c0);
    T* dst = out + o * inner + c0;
    for (int64_t i = 0; i < n; ++i) {
      double total = 0;
      for (int64_t sl = 0; sl < slices; ++sl) total += partial[(ob * slices + sl) * 256 + i];
      dst[i] = T(total * scale);
    }
  }
  return true;
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& a, int64_t n_reduced) {
  const int64_t nk = a.dim() - n_reduced;
  Shape kept_shape(a.shape().begin(), a.shape().begin() + nk);
  Shape kept_strides(a.strides().begin(), a.strides().begin() + nk);
  Shape red_shape(a.shape().begin() + nk, a.shape().end());
  Shape red_strides(a.strides().begin() + nk, a.strides().end());
  cpu::Layout<1> red = cpu::collapse<1>(red_shape, {&red_strides});
  const int64_t M = out.numel();
  const bool empty_region = numel_of(red_shape) == 0;
  // Threads only pay off on enough work: few outputs split their region, many share the outputs.
  const bool big = M * numel_of(red_shape) > 32768;
  const bool outer_parallel = big && M >= 4;
  cpu::dispatch_all(a.dtype(), "reduce", [&]<typename T>() {
    const T* x = a.data<T>();
    T* o = out.data<T>();
    if (!empty_region && std::is_floating_point_v<T> && column_sums<T>(op, o, x, kept_shape, kept_strides, red)) return;
    const bool inner_parallel = big && M < 4;
#pragma omp parallel for schedule(static) if (outer_parallel)
    for (int64_t m = 0; m < M; ++m) {
      int64_t off = 0;
      for (int64_t d = nk - 1, rem = m; d >= 0; --d) {
        off += (rem % kept_shape[d]) * kept_strides[d];
        rem /= kept_shape[d];
      }
      o[m] = empty_region ? T(0) : T(reduce_region<T>(op, x + off, red, inner_parallel));
    }
  });
}

void CpuBackend::arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& a) {
  const int64_t rows = values.numel(), n = a.shape().back(), is = a.strides().back();
  Shape row_shape(a.shape().begin(), a.shape().end() - 1), row_strides(a.strides().begin(), a.strides().end() - 1);
  const bool is_max = op == ReduceOp::Max;
  cpu::dispatch_all(a.dtype(), "max/min", [&]<typename T>() {
    const T* x = a.data<T>();
    T* pv = values.data<T>();
    int64_t* pi = indices.data<int64_t>();
#pragma omp parallel for schedule(static) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t off = 0;
      for (int64_t d = int64_t(row_shape.size()) - 1, rem = r; d >= 0; --d) {
        off += (rem % row_shape[d]) * row_strides[d];
        rem /= row_shape[d];
      }
      const T* p = x + off;
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i) {
        T v = p[i * is], b = p[best * is];
        if (b != b) break;  // the first NaN wins (NaN propagates, as in PyTorch)
        if (v != v || (is_max ? v > b : v < b)) best = i;
      }
      pv[r] = p[best * is];
      pi[r] = best;
    }
  });
}

}  // namespace promoe
