// CUDA binary elementwise kernels (broadcast inputs arrive with stride-0 dims): one strided kernel
// per (op, dtype), the math from tensor/scalar_math.h. i64 supports the arithmetic and comparison
// subset, as on the CPU.
#include "cuda/common.cuh"
#include "tensor/scalar_math.h"

namespace promoe::cuda {

namespace {

template <BinaryOp OP, typename T>
struct BinaryFn {
  T* o;
  const T* x;
  const T* y;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = math::binary<OP, T>(x[off[1]], y[off[2]]); }
};

template <BinaryOp OP, typename T>
void run(const Tensor& out, const Tensor& a, const Tensor& b) {
  if constexpr (std::is_integral_v<T> && !math::binary_defined_for_integers<OP>()) {
    PROMOE_FAIL("binary op: not defined for i64 tensors");
  } else {
    Geom<3> g = make_geom<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
    launch_strided("binary", g, BinaryFn<OP, T>{out.data<T>(), a.data<T>(), b.data<T>()});
  }
}

}  // namespace

// One case per kind of the list in tensor/op_kinds.h.
#define PROMOE_BINARY_CASE(name, str, i64) \
  case BinaryOp::name:                     \
    run<BinaryOp::name, T>(out, a, b);     \
    break;

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  PROMOE_CUDA_DISPATCH_ALL(a.dtype(), "binary op", {
    switch (op) { PROMOE_BINARY_OPS(PROMOE_BINARY_CASE) }
  });
}

#undef PROMOE_BINARY_CASE

}  // namespace promoe::cuda
