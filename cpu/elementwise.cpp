// CPU elementwise kernels: copy with dtype conversion, fill, arange, unary, binary, where.
// Transcendental functions on contiguous runs use Eigen's vectorised array math.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/scalar_math.h"

namespace promoe {

using cpu::for_each_row;

namespace {

template <typename T>
T* ptr(const Tensor& t) {
  return t.data<T>();
}

// Converts one element between storage types; bf16 passes through f32.
template <typename To, typename From>
inline To convert(From x) {
  return static_cast<To>(x);
}

template <typename From>
void copy_from(const Tensor& out, const Tensor& a) {
  const From* src = ptr<From>(a);
  std::array<const Shape*, 2> st{&out.strides(), &a.strides()};
  auto run = [&](auto* dst, auto cvt) {
    for_each_row<2>(out.shape(), st, [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> s) {
      for (int64_t i = 0; i < n; ++i) dst[off[0] + i * s[0]] = cvt(src[off[1] + i * s[1]]);
    });
  };
  switch (out.dtype()) {
    case DType::F32:
      run(ptr<float>(out), [](From x) { return float(x); });
      break;
    case DType::F64:
      run(ptr<double>(out), [](From x) { return double(x); });
      break;
    case DType::I64:
      run(ptr<int64_t>(out), [](From x) { return int64_t(x); });
      break;
    case DType::BF16:
      run(ptr<uint16_t>(out), [](From x) { return f32_to_bf16(float(x)); });
      break;
  }
}

// bf16 sources are widened to f32 first, element by element.
struct Bf16 {
  uint16_t bits;
  operator float() const { return bf16_to_f32(bits); }
};

// Contiguous runs of the transcendental ops go through Eigen's vectorised array functions (the
// scalar loop below calls libm once per element). Returns false for ops without such a path; the
// scalar definitions in tensor/scalar_math.h stay the reference these are tested against.
template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <UnaryOp OP, typename T>
bool eigen_unary(T* o, const T* px, int64_t n) {
  ArrayMap<T> y(o, n);
  ConstArrayMap<T> x(px, n);
  const T k = T(math::kSqrt2OverPi), c = T(math::kGeluCoef);
  if constexpr (OP == UnaryOp::Exp)
    y = x.exp();
  else if constexpr (OP == UnaryOp::Log)
    y = x.log();
  else if constexpr (OP == UnaryOp::Sqrt)
    y = x.sqrt();
  else if constexpr (OP == UnaryOp::Rsqrt)
    y = x.rsqrt();
  else if constexpr (OP == UnaryOp::Tanh)
    y = x.tanh();
  else if constexpr (OP == UnaryOp::Sigmoid)
    y = x.logistic();
  else if constexpr (OP == UnaryOp::Silu)
    y = x * x.logistic();
  else if constexpr (OP == UnaryOp::GeluTanh)
    y = T(0.5) * x * (T(1) + (k * (x + c * x.cube())).tanh());
  else
    return false;  // sin/cos stay scalar: rare here, and GCC 12 warns inside Eigen's AVX-512 psincos
  return true;
}

// The fused derivative kernels (x, g) -> g * f'(x) of GELU and SiLU, as above.
template <BinaryOp OP, typename T>
bool eigen_binary(T* o, const T* px, const T* pg, int64_t n) {
  ArrayMap<T> y(o, n);
  ConstArrayMap<T> x(px, n), g(pg, n);
  const T k = T(math::kSqrt2OverPi), c = T(math::kGeluCoef);
  if constexpr (OP == BinaryOp::GeluTanhBackward) {
    for (int64_t i = 0; i < n; i += 1024) {  // blocks, so that t is computed once and stays in cache
      const int64_t m = std::min<int64_t>(1024, n - i);
      auto xs = x.segment(i, m);
      Eigen::Array<T, Eigen::Dynamic, 1> t = (k * (xs + c * xs.cube())).tanh();
      y.segment(i, m) = g.segment(i, m) *
                        (T(0.5) * (T(1) + t) + T(0.5) * xs * (T(1) - t.square()) * k * (T(1) + T(3) * c * xs.square()));
    }
  } else if constexpr (OP == BinaryOp::SiluBackward) {
    for (int64_t i = 0; i < n; i += 1024) {
      const int64_t m = std::min<int64_t>(1024, n - i);
      auto xs = x.segment(i, m);
      Eigen::Array<T, Eigen::Dynamic, 1> s = xs.logistic();
      y.segment(i, m) = g.segment(i, m) * s * (T(1) + xs * (T(1) - s));
    }
  } else {
    return false;
  }
  return true;
}

template <UnaryOp OP, typename T>
void unary_loop(const Tensor& out, const Tensor& a, T p0, T p1) {
  T* o = ptr<T>(out);
  const T* x = ptr<T>(a);
  for_each_row<2>(out.shape(), {&out.strides(), &a.strides()},
                  [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> s) {
                    T* po = o + off[0];
                    const T* px = x + off[1];
                    if (s[0] == 1 && s[1] == 1) {
                      if (eigen_unary<OP, T>(po, px, n)) return;
#pragma omp simd
                      for (int64_t i = 0; i < n; ++i) po[i] = math::unary<OP, T>(px[i], p0, p1);
                    } else {
                      for (int64_t i = 0; i < n; ++i) po[i * s[0]] = math::unary<OP, T>(px[i * s[1]], p0, p1);
                    }
                  });
}

template <BinaryOp OP, typename T>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b) {
  if constexpr (std::is_integral_v<T> && !math::binary_defined_for_integers<OP>()) {
    PROMOE_FAIL("binary op: not defined for i64 tensors");
  } else {
    T* o = ptr<T>(out);
    const T* x = ptr<T>(a);
    const T* y = ptr<T>(b);
    for_each_row<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()},
                    [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> s) {
                      T* po = o + off[0];
                      const T* px = x + off[1];
                      const T* py = y + off[2];
                      if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
                        if constexpr (std::is_floating_point_v<T>)
                          if (eigen_binary<OP, T>(po, px, py, n)) return;
#pragma omp simd
                        for (int64_t i = 0; i < n; ++i) po[i] = math::binary<OP, T>(px[i], py[i]);
                      } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
                        const T yv = *py;
#pragma omp simd
                        for (int64_t i = 0; i < n; ++i) po[i] = math::binary<OP, T>(px[i], yv);
                      } else {
                        for (int64_t i = 0; i < n; ++i) po[i * s[0]] = math::binary<OP, T>(px[i * s[1]], py[i * s[2]]);
                      }
                    });
  }
}

}  // namespace

void CpuBackend::copy(const Tensor& out, const Tensor& a) {
  switch (a.dtype()) {
    case DType::F32:
      copy_from<float>(out, a);
      break;
    case DType::F64:
      copy_from<double>(out, a);
      break;
    case DType::I64:
      copy_from<int64_t>(out, a);
      break;
    case DType::BF16:
      copy_from<Bf16>(out, a);
      break;
  }
}

void CpuBackend::fill(const Tensor& out, double value) {
  if (out.dtype() == DType::BF16) {
    uint16_t bits = f32_to_bf16(float(value));
    uint16_t* o = ptr<uint16_t>(out);
    for_each_row<1>(out.shape(), {&out.strides()},
                    [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> s) {
                      for (int64_t i = 0; i < n; ++i) o[off[0] + i * s[0]] = bits;
                    });
    return;
  }
  cpu::dispatch_all(out.dtype(), "fill", [&]<typename T>() {
    T v = T(value);
    T* o = ptr<T>(out);
    for_each_row<1>(out.shape(), {&out.strides()},
                    [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> s) {
                      for (int64_t i = 0; i < n; ++i) o[off[0] + i * s[0]] = v;
                    });
  });
}

void CpuBackend::arange(const Tensor& out, double start, double step) {
  cpu::dispatch_all(out.dtype(), "arange", [&]<typename T>() {
    T* o = ptr<T>(out);
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = T(start + double(i) * step);
  });
}

// One case per kind of the list in tensor/op_kinds.h.
#define PROMOE_UNARY_CASE(name, str) \
  case UnaryOp::name:                \
    return unary_loop<UnaryOp::name, T>(out, a, T(p0), T(p1));

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) {
  cpu::dispatch_float(a.dtype(), "unary op", [&]<typename T>() {
    switch (op) { PROMOE_UNARY_OPS(PROMOE_UNARY_CASE) }
  });
}

// One case per kind of the list in tensor/op_kinds.h.
#define PROMOE_BINARY_CASE(name, str, i64) \
  case BinaryOp::name:                     \
    return binary_loop<BinaryOp::name, T>(out, a, b);

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  cpu::dispatch_all(a.dtype(), "binary op", [&]<typename T>() {
    switch (op) { PROMOE_BINARY_OPS(PROMOE_BINARY_CASE) }
  });
}

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  // The condition is read as double so that any dtype works (non-zero = true).
  Tensor c = cond.dtype() == DType::F64 ? cond : Tensor();
  if (!c.defined()) {
    c = Tensor::empty(cond.shape(), DType::F64, Device::cpu());
    copy(c, cond);
  }
  cpu::dispatch_all(a.dtype(), "where", [&]<typename T>() {
    T* o = ptr<T>(out);
    const double* pc = ptr<double>(c);
    const T* x = ptr<T>(a);
    const T* y = ptr<T>(b);
    for_each_row<4>(out.shape(), {&out.strides(), &c.strides(), &a.strides(), &b.strides()},
                    [&](std::array<int64_t, 4> off, int64_t n, std::array<int64_t, 4> s) {
                      for (int64_t i = 0; i < n; ++i)
                        o[off[0] + i * s[0]] = pc[off[1] + i * s[1]] != 0 ? x[off[2] + i * s[2]] : y[off[3] + i * s[3]];
                    });
  });
}

#undef PROMOE_UNARY_CASE

#undef PROMOE_BINARY_CASE

}  // namespace promoe
