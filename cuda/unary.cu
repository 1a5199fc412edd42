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

// One case per kind of the list in tensor/op_kinds.h.
#define PROMOE_UNARY_CASE(name, str)       \
  case UnaryOp::name:                      \
    run<UnaryOp::name, T>(out, a, p0, p1); \
    break;

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) {
  PROMOE_CUDA_DISPATCH_FLOAT(a.dtype(), "unary op", {
    switch (op) { PROMOE_UNARY_OPS(PROMOE_UNARY_CASE) }
  });
}

#undef PROMOE_UNARY_CASE

}  // namespace promoe::cuda
