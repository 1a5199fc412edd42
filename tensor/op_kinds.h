// The elementwise and reduction op kinds of the backend boundary, listed once. Each list is an
// X-macro: PROMOE_UNARY_OPS(X) calls X(Name, "name") per op, PROMOE_BINARY_OPS(X) calls
// X(Name, "name", defined_for_i64), PROMOE_REDUCE_OPS(X) calls X(Name, "name"). The enums below,
// the ops' names in error messages, the CPU and CUDA kernel switches (cpu/elementwise.cpp,
// cuda/unary.cu, cuda/binary.cu) and the tests' op lists are generated from them, so a new kind is
// one line here plus its math in tensor/scalar_math.h.
#pragma once

// p0, p1 are the scalar parameters of unary(): PowScalar a^p0, Affine a*p0 + p1,
// Clamp min(max(a, p0), p1).
#define PROMOE_UNARY_OPS(X)   \
  X(Neg, "neg")               \
  X(Exp, "exp")               \
  X(Log, "log")               \
  X(Sqrt, "sqrt")             \
  X(Rsqrt, "rsqrt")           \
  X(Tanh, "tanh")             \
  X(Sigmoid, "sigmoid")       \
  X(Silu, "silu")             \
  X(GeluTanh, "gelu_tanh")    \
  X(Sin, "sin")               \
  X(Cos, "cos")               \
  X(Abs, "abs")               \
  X(Relu, "relu")             \
  X(Sign, "sign")             \
  X(Square, "square")         \
  X(Reciprocal, "reciprocal") \
  X(PowScalar, "pow")         \
  X(Affine, "affine")         \
  X(Clamp, "clamp")

// Comparisons give 1 or 0 in the output dtype. The derivative kinds compute (x, g) -> g * f'(x),
// or (y, g) for functions of their output.
#define PROMOE_BINARY_OPS(X)                              \
  X(Add, "add", true)                                     \
  X(Sub, "sub", true)                                     \
  X(Mul, "mul", true)                                     \
  X(Div, "div", false)                                    \
  X(Pow, "pow", false)                                    \
  X(Maximum, "maximum", true)                             \
  X(Minimum, "minimum", true)                             \
  X(Eq, "eq", true)                                       \
  X(Ne, "ne", true)                                       \
  X(Lt, "lt", true)                                       \
  X(Le, "le", true)                                       \
  X(Gt, "gt", true)                                       \
  X(Ge, "ge", true)                                       \
  X(GeluTanhBackward, "gelu_tanh_backward", false)        \
  X(SiluBackward, "silu_backward", false)                 \
  X(SigmoidBackwardFromOutput, "sigmoid_backward", false) \
  X(TanhBackwardFromOutput, "tanh_backward", false)

#define PROMOE_REDUCE_OPS(X) \
  X(Sum, "sum")              \
  X(Mean, "mean")            \
  X(Max, "amax")             \
  X(Min, "amin")

namespace promoe {

#define PROMOE_OP_ENUMERATOR(name, ...) name,
enum class UnaryOp { PROMOE_UNARY_OPS(PROMOE_OP_ENUMERATOR) };
enum class BinaryOp { PROMOE_BINARY_OPS(PROMOE_OP_ENUMERATOR) };
enum class ReduceOp { PROMOE_REDUCE_OPS(PROMOE_OP_ENUMERATOR) };
#undef PROMOE_OP_ENUMERATOR

#define PROMOE_OP_KIND(name, ...) Kind::name,
template <typename Kind>
struct OpKinds;
// Every kind of a list, in list order: for (UnaryOp op : OpKinds<UnaryOp>::all) ...
template <>
struct OpKinds<UnaryOp> {
  using Kind = UnaryOp;
  static constexpr UnaryOp all[] = {PROMOE_UNARY_OPS(PROMOE_OP_KIND)};
};
template <>
struct OpKinds<BinaryOp> {
  using Kind = BinaryOp;
  static constexpr BinaryOp all[] = {PROMOE_BINARY_OPS(PROMOE_OP_KIND)};
};
template <>
struct OpKinds<ReduceOp> {
  using Kind = ReduceOp;
  static constexpr ReduceOp all[] = {PROMOE_REDUCE_OPS(PROMOE_OP_KIND)};
};
#undef PROMOE_OP_KIND

// Names ("add", "exp") for error messages, and whether a binary kind is defined for i64 tensors.
constexpr const char* op_kind_name(UnaryOp op) {
#define PROMOE_OP_NAME(name, str) str,
  constexpr const char* names[] = {PROMOE_UNARY_OPS(PROMOE_OP_NAME)};
#undef PROMOE_OP_NAME
  return names[int(op)];
}
constexpr const char* op_kind_name(BinaryOp op) {
#define PROMOE_OP_NAME(name, str, i64) str,
  constexpr const char* names[] = {PROMOE_BINARY_OPS(PROMOE_OP_NAME)};
#undef PROMOE_OP_NAME
  return names[int(op)];
}
constexpr const char* op_kind_name(ReduceOp op) {
#define PROMOE_OP_NAME(name, str) str,
  constexpr const char* names[] = {PROMOE_REDUCE_OPS(PROMOE_OP_NAME)};
#undef PROMOE_OP_NAME
  return names[int(op)];
}
constexpr bool binary_defined_for_i64(BinaryOp op) {
#define PROMOE_OP_I64(name, str, i64) i64,
  constexpr bool defined[] = {PROMOE_BINARY_OPS(PROMOE_OP_I64)};
#undef PROMOE_OP_I64
  return defined[int(op)];
}

}  // namespace promoe
