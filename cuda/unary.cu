// CUDA unary elementwise kernels: one strided kernel per (op, dtype), the math from
// tensor/scalar_math.h (shared with the CPU backend).
#include "cuda/common.cuh"
#include "tensor/scalar_math.h"

namespace promoe::cuda {

namespace {

template <UnaryOp OP, typename T>
struct UnaryFn {
  T* o;
  const T* x;
  T p0, p1;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = math::unary<OP, T>(x[off[1]], p0, p1); }
};

template <UnaryOp OP, typename T>
void run(const Tensor& out, const Tensor& a, double p0, double p1) {
  Geom<2> g = make_geom<2>(out.shape(), {&out.strides(), &a.strides()});
  launch_strided("unary", g, UnaryFn<OP, T>{out.data<T>(), a.data<T>(), T(p0), T(p1)});
}

}  // namespace

#define PROMOE_UNARY_CASE(name)            \
  case UnaryOp::name:                      \
    run<UnaryOp::name, T>(out, a, p0, p1); \
    break;

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) {
  PROMOE_CUDA_DISPATCH_FLOAT(a.dtype(), "unary op", {
    switch (op) {
      PROMOE_UNARY_CASE(Neg)
      PROMOE_UNARY_CASE(Exp)
      PROMOE_UNARY_CASE(Log)
      PROMOE_UNARY_CASE(Sqrt)
      PROMOE_UNARY_CASE(Rsqrt)
      PROMOE_UNARY_CASE(Tanh)
      PROMOE_UNARY_CASE(Sigmoid)
      PROMOE_UNARY_CASE(Silu)
      PROMOE_UNARY_CASE(GeluTanh)
      PROMOE_UNARY_CASE(Sin)
      PROMOE_UNARY_CASE(Cos)
      PROMOE_UNARY_CASE(Abs)
      PROMOE_UNARY_CASE(Relu)
      PROMOE_UNARY_CASE(Sign)
      PROMOE_UNARY_CASE(Square)
      PROMOE_UNARY_CASE(Reciprocal)
      PROMOE_UNARY_CASE(PowScalar)
      PROMOE_UNARY_CASE(Affine)
      PROMOE_UNARY_CASE(Clamp)
    }
  });
}

}  // namespace promoe::cuda
