// The 2-D convolution on CUDA through cuDNN (built only where CMake finds cuDNN; without it
// nn.conv2d runs its composed reference on the CUDA primitives). f32 NCHW tensors; f64 and sizes
// beyond cuDNN's int dims go to the reference. The algorithms are cuDNN's heuristic picks (the
// _v7 queries, no benchmarking runs), restricted to deterministic ones for the backward passes and
// to workspaces under 1 GiB, with FMA math (no TF32) so results stay IEEE f32 like the CPU's,
// unless PROMOE_CUDA_TF32 is set, as for cuBLAS; where cuDNN offers none, the reference runs.
// Workspaces come from the caching allocator.
//
// These are cuDNN's classic convolution calls, which cuDNN 9 marks deprecated in favour of its
// graph API but still provides; the deprecation warnings are silenced for this file only.
#include <cudnn.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda/check.h"
#include "cuda/context.h"
#include "tensor/fused.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define CUDNN_CHECK(expr)                                                                                              \
  do {                                                                                                                 \
    cudnnStatus_t promoe_cudnn_st_ = (expr);                                                                           \
    if (promoe_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                                                      \
      PROMOE_FAIL("cuDNN error: ", cudnnGetErrorString(promoe_cudnn_st_), " (status ", int(promoe_cudnn_st_), ") in ", \
                  #expr, " at ", __FILE__, ":", __LINE__);                                                             \
  } while (0)

namespace promoe::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;

// The handle, created on first use and bound to the backend's stream.
cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t made;
    CUDNN_CHECK(cudnnCreate(&made));
    CUDNN_CHECK(cudnnSetStream(made, context().stream));
    return made;
  }();
  return h;
}

bool tf32_allowed() {
  const char* v = std::getenv("PROMOE_CUDA_TF32");
  return v && *v && std::strcmp(v, "0") != 0;
}

// The descriptors of one convolution: x (B, C, H, W), weight (O, C, kh, kw), y (B, O, Ho, Wo), a
// (1, O, 1, 1) bias.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors(const Tensor& x_t, const Tensor& w_t, const Tensor& y_t, int64_t stride, int64_t pad) {
    auto dims = [](const Tensor& t) {
      return std::vector<int>{int(t.size(0)), int(t.size(1)), int(t.size(2)), int(t.size(3))};
    };
    const std::vector<int> xd = dims(x_t), wd = dims(w_t), yd = dims(y_t);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, xd[0], xd[1], xd[2], xd[3]));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, yd[0], yd[1], yd[2], yd[3]));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, yd[1], 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, wd[0], wd[1], wd[2], wd[3]));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(pad), int(pad), int(stride), int(stride), 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, tf32_allowed() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  }
  ~Descriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

// A workspace from the caching allocator, returned when it goes out of scope (the stream orders
// any reuse after the call that reads it).
struct Workspace {
  void* p = nullptr;
  size_t bytes;
  explicit Workspace(size_t n) : bytes(n) {
    if (n) p = context().allocator.allocate(n);
  }
  ~Workspace() {
    if (p) context().allocator.deallocate(p, bytes);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

// The first of cuDNN's ranked picks that ran its heuristic, fits the workspace limit, needs no
// tensor-op math (unless TF32 is allowed; the descriptor's FMA setting then governs the run) and,
// where asked, is deterministic; null where none does.
template <typename Perf>
const Perf* pick(const std::vector<Perf>& perf, int returned, bool deterministic) {
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perf[size_t(i)];
    if (p.status == CUDNN_STATUS_SUCCESS && p.memory <= kMaxWorkspace &&
        (tf32_allowed() || p.mathType == CUDNN_FMA_MATH || p.mathType == CUDNN_DEFAULT_MATH) &&
        (!deterministic || p.determinism == CUDNN_DETERMINISTIC))
      return &p;
  }
  return nullptr;
}

// cuDNN describes dims as int: larger tensors take the composed reference.
bool fits_cudnn(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->defined() && t->numel() > INT_MAX) return false;
  return true;
}

void conv2d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  auto reference = [&] { fused_reference<decltype(conv2d)>("nn.conv2d")(out, x, weight, bias, stride, pad); };
  if (x.dtype() != DType::F32 || !fits_cudnn({&out, &x, &weight})) return reference();
  Descriptors d(x, weight, out, stride, pad);
  cudnnHandle_t h = handle();
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, count, &returned, perf.data()));
  const cudnnConvolutionFwdAlgoPerf_t* algo = pick(perf, returned, false);
  if (!algo) return reference();
  Workspace ws(algo->memory);
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(h, &one, d.x, x.data<float>(), d.w, weight.data<float>(), d.conv, algo->algo,
                                      ws.p, ws.bytes, &zero, d.y, out.data<float>()));
  if (bias.defined()) CUDNN_CHECK(cudnnAddTensor(h, &one, d.bias, bias.data<float>(), &one, d.y, out.data<float>()));
}

void conv2d_backward(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& g,
                     const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad) {
  auto reference = [&] {
    fused_reference<decltype(conv2d_backward)>("nn.conv2d_backward")(grad_x, grad_weight, grad_bias, g, x, weight,
                                                                     stride, pad);
  };
  if (x.dtype() != DType::F32 || !fits_cudnn({&g, &x, &weight})) return reference();
  Descriptors d(x, weight, g, stride, pad);
  cudnnHandle_t h = handle();
  // Both algorithms are chosen before anything is written, so a missing one leaves it all to the reference.
  int data_count = 0, filter_count = 0, data_returned = 0, filter_returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &data_count));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &filter_count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data_perf(static_cast<size_t>(data_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter_perf(static_cast<size_t>(filter_count));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, data_count, &data_returned,
                                                          data_perf.data()));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, filter_count, &filter_returned,
                                                            filter_perf.data()));
  const cudnnConvolutionBwdDataAlgoPerf_t* data_algo = pick(data_perf, data_returned, true);
  const cudnnConvolutionBwdFilterAlgoPerf_t* filter_algo = pick(filter_perf, filter_returned, true);
  if ((grad_x.defined() && !data_algo) || (grad_weight.defined() && !filter_algo)) return reference();
  const float one = 1.0f, zero = 0.0f;
  if (grad_bias.defined())
    CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, d.y, g.data<float>(), &zero, d.bias, grad_bias.data<float>()));
  if (grad_x.defined()) {
    Workspace ws(data_algo->memory);
    CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, d.w, weight.data<float>(), d.y, g.data<float>(), d.conv,
                                             data_algo->algo, ws.p, ws.bytes, &zero, d.x, grad_x.data<float>()));
  }
  if (grad_weight.defined()) {
    Workspace ws(filter_algo->memory);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, d.x, x.data<float>(), d.y, g.data<float>(), d.conv,
                                               filter_algo->algo, ws.p, ws.bytes, &zero, d.w,
                                               grad_weight.data<float>()));
  }
}

// The fast kernels of nn.conv2d and nn.conv2d_backward.
const bool registered = register_fused_kernel("nn.conv2d", DeviceType::CUDA, &conv2d) &&
                        register_fused_kernel("nn.conv2d_backward", DeviceType::CUDA, &conv2d_backward);

}  // namespace

}  // namespace promoe::cuda
