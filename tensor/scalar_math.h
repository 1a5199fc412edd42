// Per-element math shared by the CPU and CUDA backends (host and device), so that a kernel's
// arithmetic is tested on the host even where no GPU is present.
#pragma once
#include <cmath>

#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace promoe::math {

#if !defined(__CUDACC__)
// On the host, unqualified calls must find the float overloads too: glibc's global exp, tanh, ...
// take double only, so f32 kernels would silently compute in double, several times slower.
// (CUDA's headers already provide float overloads for device code.)
using std::cos;
using std::exp;
using std::log;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;
#endif

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kGeluCoef = 0.044715;

template <typename T>
PROMOE_HD inline T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}

template <typename T>
PROMOE_HD inline T gelu_tanh(T x) {
  T u = T(kSqrt2OverPi) * (x + T(kGeluCoef) * x * x * x);
  return T(0.5) * x * (T(1) + tanh(u));
}

template <typename T>
PROMOE_HD inline T gelu_tanh_grad(T x) {
  T u = T(kSqrt2OverPi) * (x + T(kGeluCoef) * x * x * x);
  T t = tanh(u);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCoef) * x * x);
}

template <UnaryOp OP, typename T>
PROMOE_HD inline T unary(T x, T p0, T p1) {
  if constexpr (OP == UnaryOp::Neg)
    return -x;
  else if constexpr (OP == UnaryOp::Exp)
    return exp(x);
  else if constexpr (OP == UnaryOp::Log)
    return log(x);
  else if constexpr (OP == UnaryOp::Sqrt)
    return sqrt(x);
  else if constexpr (OP == UnaryOp::Rsqrt)
    return T(1) / sqrt(x);
  else if constexpr (OP == UnaryOp::Tanh)
    return tanh(x);
  else if constexpr (OP == UnaryOp::Sigmoid)
    return sigmoid(x);
  else if constexpr (OP == UnaryOp::Silu)
    return x * sigmoid(x);
  else if constexpr (OP == UnaryOp::GeluTanh)
    return gelu_tanh(x);
  else if constexpr (OP == UnaryOp::Sin)
    return sin(x);
  else if constexpr (OP == UnaryOp::Cos)
    return cos(x);
  else if constexpr (OP == UnaryOp::Abs)
    return x < T(0) ? -x : x;
  else if constexpr (OP == UnaryOp::Relu)
    return x > T(0) ? x : T(0);
  else if constexpr (OP == UnaryOp::Sign)
    return T((x > T(0)) - (x < T(0)));
  else if constexpr (OP == UnaryOp::Square)
    return x * x;
  else if constexpr (OP == UnaryOp::Reciprocal)
    return T(1) / x;
  else if constexpr (OP == UnaryOp::PowScalar)
    return pow(x, p0);
  else if constexpr (OP == UnaryOp::Affine)
    return x * p0 + p1;
  else if constexpr (OP == UnaryOp::Clamp)
    return x < p0 ? p0 : (x > p1 ? p1 : x);
  else
    return x;
}

template <BinaryOp OP, typename T>
PROMOE_HD inline T binary(T a, T b) {
  if constexpr (OP == BinaryOp::Add)
    return a + b;
  else if constexpr (OP == BinaryOp::Sub)
    return a - b;
  else if constexpr (OP == BinaryOp::Mul)
    return a * b;
  else if constexpr (OP == BinaryOp::Div)
    return a / b;
  else if constexpr (OP == BinaryOp::Pow)
    return pow(a, b);
  else if constexpr (OP == BinaryOp::Maximum)
    return a > b ? a : b;
  else if constexpr (OP == BinaryOp::Minimum)
    return a < b ? a : b;
  else if constexpr (OP == BinaryOp::Eq)
    return T(a == b);
  else if constexpr (OP == BinaryOp::Ne)
    return T(a != b);
  else if constexpr (OP == BinaryOp::Lt)
    return T(a < b);
  else if constexpr (OP == BinaryOp::Le)
    return T(a <= b);
  else if constexpr (OP == BinaryOp::Gt)
    return T(a > b);
  else if constexpr (OP == BinaryOp::Ge)
    return T(a >= b);
  else if constexpr (OP == BinaryOp::GeluTanhBackward)
    return b * gelu_tanh_grad(a);
  else if constexpr (OP == BinaryOp::SiluBackward) {
    T s = sigmoid(a);
    return b * s * (T(1) + a * (T(1) - s));
  } else if constexpr (OP == BinaryOp::SigmoidBackwardFromOutput)
    return b * a * (T(1) - a);
  else if constexpr (OP == BinaryOp::TanhBackwardFromOutput)
    return b * (T(1) - a * a);
  else
    return a;
}

// Integer types support only the arithmetic and comparison subset.
template <BinaryOp OP>
constexpr bool binary_defined_for_integers() {
  return binary_defined_for_i64(OP);  // tensor/op_kinds.h
}

// One AdamW step for one element (PyTorch semantics: decoupled decay before the moment update).
template <typename T>
PROMOE_HD inline void adamw(T& p, T g, T& m, T& v, T lr, T b1, T b2, T eps, T wd, T bias1, T bias2_sqrt) {
  p *= T(1) - lr * wd;
  m += (T(1) - b1) * (g - m);  // torch.lerp with weight < 0.5
  v = b2 * v + (T(1) - b2) * g * g;
  T denom = sqrt(v) / bias2_sqrt + eps;
  p -= (lr / bias1) * m / denom;
}

}  // namespace promoe::math
