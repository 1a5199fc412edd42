// Differentiable elementwise arithmetic, functions and comparisons.
#include <cmath>

#include "autograd/ops.h"

namespace promoe {

namespace {

using Grads = std::vector<Tensor>;

// A unary op whose derivative needs `saved` (the input or the output) and the upstream gradient.
Tensor unary_with(UnaryOp op, const Tensor& a, const char* name, bool save_output,
                  std::function<Tensor(const Tensor& saved, const Tensor& g)> deriv, double p0 = 0, double p1 = 0) {
  Tensor out = raw::unary(op, a, p0, p1);
  if (!needs_grad({a})) return out;
  Tensor saved = save_output ? out.detach() : a.detach();
  return record(out, name, {a}, [saved, deriv](const Tensor& g) { return Grads{deriv(saved, g)}; });
}

Tensor binary_fused(BinaryOp op, const Tensor& saved, const Tensor& g) { return raw::binary(op, saved, g); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(raw::add(a, b), "add", {a, b}, [=](const Tensor& g) {
    return Grads{ra ? raw::sum_to(g, sa) : Tensor(), rb ? raw::sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(raw::sub(a, b), "sub", {a, b}, [=](const Tensor& g) {
    return Grads{ra ? raw::sum_to(g, sa) : Tensor(), rb ? raw::sum_to(raw::unary(UnaryOp::Neg, g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = raw::mul(a, b);
  if (!needs_grad({a, b})) return out;
  Tensor sa = a.detach(), sb = b.detach();
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(out, "mul", {a, b}, [=](const Tensor& g) {
    return Grads{ra ? raw::sum_to(raw::mul(g, sb), sa.shape()) : Tensor(),
                 rb ? raw::sum_to(raw::mul(g, sa), sb.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = raw::div(a, b);
  if (!needs_grad({a, b})) return out;
  Tensor sb = b.detach(), so = out.detach();
  Shape sa = a.shape();
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(out, "div", {a, b}, [=](const Tensor& g) {
    Tensor ga = raw::div(g, sb);
    return Grads{ra ? raw::sum_to(ga, sa) : Tensor(),
                 rb ? raw::sum_to(raw::unary(UnaryOp::Neg, raw::mul(ga, so)), sb.shape()) : Tensor()};
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = raw::binary(BinaryOp::Pow, a, b);
  if (!needs_grad({a, b})) return out;
  Tensor sa = a.detach(), sb = b.detach(), so = out.detach();
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(out, "pow", {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    if (ra) {  // b * a^(b-1)
      Tensor d = raw::mul(sb, raw::binary(BinaryOp::Pow, sa, raw::add_scalar(sb, -1.0)));
      ga = raw::sum_to(raw::mul(g, d), sa.shape());
    }
    if (rb) gb = raw::sum_to(raw::mul(g, raw::mul(so, raw::unary(UnaryOp::Log, sa))), sb.shape());
    return Grads{ga, gb};
  });
}

// Ties split the gradient evenly, as PyTorch does.
static Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor out = raw::binary(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b);
  if (!needs_grad({a, b})) return out;
  Tensor sa = a.detach(), sb = b.detach();
  return record(out, is_max ? "maximum" : "minimum", {a, b}, [=](const Tensor& g) {
    Tensor wins = raw::binary(is_max ? BinaryOp::Gt : BinaryOp::Lt, sa, sb);
    Tensor ties = raw::mul_scalar(raw::binary(BinaryOp::Eq, sa, sb), 0.5);
    Tensor wa = raw::add(wins, ties);
    Tensor wb = raw::add_scalar(raw::unary(UnaryOp::Neg, wa), 1.0);
    return Grads{raw::sum_to(raw::mul(g, wa), sa.shape()), raw::sum_to(raw::mul(g, wb), sb.shape())};
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor add(const Tensor& a, double s) {
  return record(raw::add_scalar(a, s), "add_scalar", {a}, [](const Tensor& g) { return Grads{g}; });
}
Tensor mul(const Tensor& a, double s) {
  return record(raw::mul_scalar(a, s), "mul_scalar", {a},
                [s](const Tensor& g) { return Grads{raw::mul_scalar(g, s)}; });
}
Tensor pow(const Tensor& a, double p) {
  return unary_with(
      UnaryOp::PowScalar, a, "pow_scalar", false,
      [p](const Tensor& x, const Tensor& g) {
        return raw::mul(g, raw::mul_scalar(raw::unary(UnaryOp::PowScalar, x, p - 1), p));
      },
      p);
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return add(a, s); }
Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
Tensor operator-(const Tensor& a) { return neg(a); }

Tensor neg(const Tensor& a) { return mul(a, -1.0); }
Tensor exp(const Tensor& a) {
  return unary_with(UnaryOp::Exp, a, "exp", true, [](const Tensor& y, const Tensor& g) { return raw::mul(g, y); });
}
Tensor log(const Tensor& a) {
  return unary_with(UnaryOp::Log, a, "log", false, [](const Tensor& x, const Tensor& g) { return raw::div(g, x); });
}
Tensor sqrt(const Tensor& a) {
  return unary_with(UnaryOp::Sqrt, a, "sqrt", true,
                    [](const Tensor& y, const Tensor& g) { return raw::div(raw::mul_scalar(g, 0.5), y); });
}
Tensor rsqrt(const Tensor& a) {  // d/dx x^-1/2 = -1/2 y^3
  return unary_with(UnaryOp::Rsqrt, a, "rsqrt", true, [](const Tensor& y, const Tensor& g) {
    return raw::mul(g, raw::mul_scalar(raw::unary(UnaryOp::PowScalar, y, 3.0), -0.5));
  });
}
Tensor tanh(const Tensor& a) {
  return unary_with(UnaryOp::Tanh, a, "tanh", true, [](const Tensor& y, const Tensor& g) {
    return binary_fused(BinaryOp::TanhBackwardFromOutput, y, g);
  });
}
Tensor sigmoid(const Tensor& a) {
  return unary_with(UnaryOp::Sigmoid, a, "sigmoid", true, [](const Tensor& y, const Tensor& g) {
    return binary_fused(BinaryOp::SigmoidBackwardFromOutput, y, g);
  });
}
Tensor silu(const Tensor& a) {
  return unary_with(UnaryOp::Silu, a, "silu", false,
                    [](const Tensor& x, const Tensor& g) { return binary_fused(BinaryOp::SiluBackward, x, g); });
}
Tensor gelu_tanh(const Tensor& a) {
  return unary_with(UnaryOp::GeluTanh, a, "gelu_tanh", false,
                    [](const Tensor& x, const Tensor& g) { return binary_fused(BinaryOp::GeluTanhBackward, x, g); });
}
Tensor sin(const Tensor& a) {
  return unary_with(UnaryOp::Sin, a, "sin", false,
                    [](const Tensor& x, const Tensor& g) { return raw::mul(g, raw::unary(UnaryOp::Cos, x)); });
}
Tensor cos(const Tensor& a) {
  return unary_with(UnaryOp::Cos, a, "cos", false, [](const Tensor& x, const Tensor& g) {
    return raw::mul(g, raw::unary(UnaryOp::Neg, raw::unary(UnaryOp::Sin, x)));
  });
}
Tensor abs(const Tensor& a) {
  return unary_with(UnaryOp::Abs, a, "abs", false,
                    [](const Tensor& x, const Tensor& g) { return raw::mul(g, raw::unary(UnaryOp::Sign, x)); });
}
Tensor relu(const Tensor& a) {
  return unary_with(UnaryOp::Relu, a, "relu", true, [](const Tensor& y, const Tensor& g) {
    return raw::mul(g, raw::binary(BinaryOp::Gt, y, raw::zeros({}, y.dtype(), y.device())));
  });
}
Tensor square(const Tensor& a) {
  return unary_with(UnaryOp::Square, a, "square", false,
                    [](const Tensor& x, const Tensor& g) { return raw::mul(g, raw::mul_scalar(x, 2.0)); });
}
Tensor clamp(const Tensor& a, double lo, double hi) {
  PROMOE_CHECK(lo <= hi, "clamp: lower bound ", lo, " above upper bound ", hi);
  return unary_with(
      UnaryOp::Clamp, a, "clamp", false,
      [lo, hi](const Tensor& x, const Tensor& g) {
        Tensor lo_t = raw::scalar(lo, x.dtype(), x.device()), hi_t = raw::scalar(hi, x.dtype(), x.device());
        Tensor inside = raw::mul(raw::binary(BinaryOp::Gt, x, lo_t), raw::binary(BinaryOp::Lt, x, hi_t));
        return raw::mul(g, inside);
      },
      lo, hi);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = raw::where(cond, a, b);
  if (!needs_grad({a, b})) return out;
  Tensor c = cond.detach();
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "where", {a, b}, [=](const Tensor& g) {
    Tensor z = raw::zeros({}, g.dtype(), g.device());
    return Grads{raw::sum_to(raw::where(c, g, z), sa), raw::sum_to(raw::where(c, z, g), sb)};
  });
}

Tensor eq(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::Ge, a, b); }

}  // namespace promoe
