// CUDA elementwise kernels other than unary/binary: copy with dtype conversion, fill, arange,
// where, Philox random numbers and the fused AdamW step.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/elementwise_math.cuh"
#include "tensor/fused.h"
#include "tensor/scalar_math.h"

namespace promoe::cuda {

namespace {

template <typename To, typename From>
struct CopyFn {
  To* o;
  const From* x;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = emath::convert<To, From>(x[off[1]]); }
};

template <typename T>
struct FillFn {
  T* o;
  T v;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = v; }
};

template <typename T>
struct WhereFn {
  T* o;
  const void* c;
  DType cdt;
  const T* x;
  const T* y;
  __device__ void operator()(const int64_t* off) const {
    o[off[0]] = emath::truth(c, off[1], cdt) ? x[off[2]] : y[off[3]];
  }
};

template <typename From>
void copy_from(const Tensor& out, const Tensor& a) {
  Geom<2> g = make_geom<2>(out.shape(), {&out.strides(), &a.strides()});
  const From* x = a.data<From>();
  PROMOE_CUDA_DISPATCH_STORAGE(out.dtype(), launch_strided("copy", g, CopyFn<T, From>{out.data<T>(), x}));
}

template <typename T>
__global__ void arange_kernel(T* o, int64_t n, double start, double step) {
  PROMOE_GRID_STRIDE(i, n) o[i] = emath::arange_at<T>(i, start, step);
}

template <typename T>
__global__ void uniform_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  PROMOE_GRID_STRIDE(i, n) o[i] = emath::uniform_at<T>(seed, offset, i, lo, hi);
}

template <typename T>
__global__ void normal_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  PROMOE_GRID_STRIDE(i, n) o[i] = emath::normal_at<T>(seed, offset, i, mean, std);
}

template <typename T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, T lr, T b1, T b2, T eps, T wd, T bias1,
                             T bias2_sqrt, T grad_scale) {
  PROMOE_GRID_STRIDE(i, n) {
    T pi = p[i], mi = m[i], vi = v[i];
    math::adamw<T>(pi, g[i] * grad_scale, mi, vi, lr, b1, b2, eps, wd, bias1, bias2_sqrt);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void CudaBackend::copy(const Tensor& out, const Tensor& a) {
  PROMOE_CUDA_DISPATCH_STORAGE(a.dtype(), copy_from<T>(out, a));
}

void CudaBackend::fill(const Tensor& out, double value) {
  Geom<1> g = make_geom<1>(out.shape(), {&out.strides()});
  PROMOE_CUDA_DISPATCH_STORAGE(out.dtype(),
                               launch_strided("fill", g, FillFn<T>{out.data<T>(), emath::fill_value<T>(value)}));
}

void CudaBackend::arange(const Tensor& out, double start, double step) {
  PROMOE_CUDA_DISPATCH_ALL(out.dtype(), "arange",
                           launch_1d("arange", out.numel(), arange_kernel<T>, out.data<T>(), out.numel(), start, step));
}

void CudaBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  Geom<4> g = make_geom<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()});
  PROMOE_CUDA_DISPATCH_ALL(
      a.dtype(), "where",
      launch_strided("where", g, WhereFn<T>{out.data<T>(), cond.raw_data(), cond.dtype(), a.data<T>(), b.data<T>()}));
}

void CudaBackend::uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  PROMOE_CUDA_DISPATCH_FLOAT(
      out.dtype(), "uniform",
      launch_1d("uniform", out.numel(), uniform_kernel<T>, out.data<T>(), out.numel(), seed, offset, lo, hi));
}

void CudaBackend::normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  PROMOE_CUDA_DISPATCH_FLOAT(
      out.dtype(), "normal",
      launch_1d("normal", out.numel(), normal_kernel<T>, out.data<T>(), out.numel(), seed, offset, mean, std));
}

namespace {

void adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
           double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  PROMOE_CUDA_DISPATCH_FLOAT(param.dtype(), "adamw",
                             launch_1d("adamw", param.numel(), adamw_kernel<T>, param.data<T>(), grad.data<T>(),
                                       m.data<T>(), v.data<T>(), param.numel(), T(lr), T(beta1), T(beta2), T(eps),
                                       T(weight_decay), T(bias1), T(bias2_sqrt), T(grad_scale)));
}

// The fast kernel of optim.adamw (the list form runs it per tensor).
const bool registered = register_fused_kernel("optim.adamw", DeviceType::CUDA, &adamw);

}  // namespace

}  // namespace promoe::cuda
