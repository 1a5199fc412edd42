// The 2-D convolution on the CPU: im2col + GEMM, image by image and in chunks of output rows so
// the column buffer stays small (a 256 x 256 image of 128 channels would take 300 MB whole). A
// chunk's columns (C*kh*kw, rows*Wo) are gathered by an OpenMP loop over their rows, then one
// product with the (O, C*kh*kw) weight writes the chunk of the output in place (the backend's
// matmul: oneDNN's sgemm for float where the build has it, Eigen otherwise). A 1x1 convolution of
// stride 1 without padding multiplies the image itself. Backward runs the same chunks: the weight
// gradient accumulates g @ cols^T over them, the input gradient scatters W^T @ g back (col2im, one
// thread per channel, so no two threads write one pixel).
#include <omp.h>

#include <algorithm>

#include "cpu/cpu_backend.h"
#include "cpu/strided.h"
#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe {

namespace {

// The geometry of nn.conv2d (nn/fused_conv.h, which checked it): x (B, C, H, W), weight
// (O, C, kh, kw), output (B, O, Ho, Wo).
struct ConvGeometry {
  int64_t B, C, H, W, O, kh, kw, stride, pad, Ho, Wo;
};
ConvGeometry geometry(const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad) {
  ConvGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3),
                 stride,    pad,       0,         0};
  g.Ho = (g.H + 2 * pad - g.kh) / stride + 1;
  g.Wo = (g.W + 2 * pad - g.kw) / stride + 1;
  return g;
}

constexpr int64_t kColumnBudget = int64_t(1) << 21;  // elements of one chunk's column buffer

// Output rows per chunk: as many as fit the budget, at least one.
int64_t chunk_rows(const ConvGeometry& g) {
  const int64_t per_row = g.C * g.kh * g.kw * g.Wo;
  return std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(per_row, 1), 1, g.Ho);
}

bool is_pointwise(const ConvGeometry& g) { return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0; }

// cols (C*kh*kw, rows*Wo) of image x (C, H, W) for output rows [oy0, oy0 + rows).
template <typename T>
void im2col(T* cols, const T* x, const ConvGeometry& g, int64_t oy0, int64_t rows) {
  const int64_t K = g.kh * g.kw, n = rows * g.Wo;
#pragma omp parallel for schedule(static) if (g.C * K * n > 32768)
  for (int64_t r = 0; r < g.C * K; ++r) {
    const int64_t c = r / K, ky = (r % K) / g.kw, kx = r % g.kw;
    const T* xc = x + c * g.H * g.W;
    T* out = cols + r * n;
    for (int64_t oy = oy0; oy < oy0 + rows; ++oy) {
      const int64_t iy = oy * g.stride - g.pad + ky;
      for (int64_t ox = 0; ox < g.Wo; ++ox) {
        const int64_t ix = ox * g.stride - g.pad + kx;
        *out++ = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? xc[iy * g.W + ix] : T(0);
      }
    }
  }
}

// gx (C, H, W) += the columns cols (C*kh*kw, rows*Wo) scattered back to the pixels they were read from.
template <typename T>
void col2im_add(T* gx, const T* cols, const ConvGeometry& g, int64_t oy0, int64_t rows) {
  const int64_t K = g.kh * g.kw, n = rows * g.Wo;
#pragma omp parallel for schedule(static) if (g.C * K * n > 32768)
  for (int64_t c = 0; c < g.C; ++c) {
    T* gc = gx + c * g.H * g.W;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t ky = k / g.kw, kx = k % g.kw;
      const T* in = cols + (c * K + k) * n;
      for (int64_t oy = oy0; oy < oy0 + rows; ++oy) {
        const int64_t iy = oy * g.stride - g.pad + ky;
        for (int64_t ox = 0; ox < g.Wo; ++ox, ++in) {
          const int64_t ix = ox * g.stride - g.pad + kx;
          if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) gc[iy * g.W + ix] += *in;
        }
      }
    }
  }
}

// The (M, N) matrix at element `offset` of t's storage with row stride ld, as the 3-D view matmul takes.
Tensor matrix(const Tensor& t, int64_t offset, int64_t M, int64_t N, int64_t ld) {
  return Tensor::view_of(t, {1, M, N}, {0, ld, 1}, t.offset() + offset);
}
Tensor transposed(const Tensor& m) { return raw::transpose(m, 1, 2); }

// The column matrix (C*kh*kw, rows*Wo) of image b's output rows [oy0, oy0 + rows): x itself for a
// pointwise convolution, else gathered into `scratch`.
template <typename T>
Tensor columns(const Tensor& scratch, const Tensor& x, const ConvGeometry& g, int64_t b, int64_t oy0, int64_t rows) {
  const int64_t CK = g.C * g.kh * g.kw, n = rows * g.Wo;
  if (is_pointwise(g)) return matrix(x, b * g.C * g.H * g.W + oy0 * g.W, g.C, n, g.H * g.W);
  im2col(scratch.data<T>(), x.data<T>() + b * g.C * g.H * g.W, g, oy0, rows);
  return matrix(scratch, 0, CK, n, n);
}

void conv2d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t pad) {
  const ConvGeometry g = geometry(x, weight, stride, pad);
  const int64_t CK = g.C * g.kh * g.kw, chunk = chunk_rows(g), plane = g.Ho * g.Wo;
  Tensor scratch = Tensor::empty({is_pointwise(g) ? 0 : CK * chunk * g.Wo}, x.dtype());
  Tensor w = matrix(weight, 0, g.O, CK, CK);
  cpu::dispatch_float(x.dtype(), "conv2d", [&]<typename T>() {
    for (int64_t b = 0; b < g.B; ++b)
      for (int64_t oy0 = 0; oy0 < g.Ho; oy0 += chunk) {
        const int64_t rows = std::min(chunk, g.Ho - oy0);
        Tensor cols = columns<T>(scratch, x, g, b, oy0, rows);
        cpu_backend().matmul(matrix(out, b * g.O * plane + oy0 * g.Wo, g.O, rows * g.Wo, plane), w, cols, 1.0, 0.0);
      }
    if (!bias.defined()) return;
    const T* pb = bias.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for schedule(static) if (out.numel() > 32768)
    for (int64_t bo = 0; bo < g.B * g.O; ++bo) {
      const T v = pb[bo % g.O];
      for (T *p = po + bo * plane, *e = p + plane; p < e; ++p) *p += v;
    }
  });
}

void conv2d_backward(const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& g_out,
                     const Tensor& x, const Tensor& weight, int64_t stride, int64_t pad) {
  const ConvGeometry g = geometry(x, weight, stride, pad);
  const int64_t CK = g.C * g.kh * g.kw, chunk = chunk_rows(g), plane = g.Ho * g.Wo;
  cpu::dispatch_float(x.dtype(), "conv2d_backward", [&]<typename T>() {
    if (grad_bias.defined()) {
      const T* pg = g_out.data<T>();
      T* pb = grad_bias.data<T>();
#pragma omp parallel for schedule(static) if (g_out.numel() > 32768)
      for (int64_t o = 0; o < g.O; ++o) {
        T acc = 0;
        for (int64_t b = 0; b < g.B; ++b)
          for (const T *p = pg + (b * g.O + o) * plane, *e = p + plane; p < e; ++p) acc += *p;
        pb[o] = acc;
      }
    }
    if (!grad_x.defined() && !grad_weight.defined()) return;
    Tensor scratch = Tensor::empty({CK * chunk * g.Wo}, x.dtype());  // columns, then their gradient
    Tensor w = matrix(weight, 0, g.O, CK, CK);
    Tensor gw = grad_weight.defined() ? matrix(grad_weight, 0, g.O, CK, CK) : Tensor();
    if (grad_x.defined()) raw::fill_(grad_x, 0.0);
    bool first = true;
    for (int64_t b = 0; b < g.B; ++b)
      for (int64_t oy0 = 0; oy0 < g.Ho; oy0 += chunk) {
        const int64_t rows = std::min(chunk, g.Ho - oy0), n = rows * g.Wo;
        Tensor gc = matrix(g_out, b * g.O * plane + oy0 * g.Wo, g.O, n, plane);  // (O, n)
        if (gw.defined()) {
          cpu_backend().matmul(gw, gc, transposed(columns<T>(scratch, x, g, b, oy0, rows)), 1.0, first ? 0.0 : 1.0);
          first = false;
        }
        if (!grad_x.defined()) continue;
        if (is_pointwise(g)) {  // the input gradient of these pixels is W^T @ g itself
          cpu_backend().matmul(matrix(grad_x, b * g.C * g.H * g.W + oy0 * g.W, g.C, n, g.H * g.W), transposed(w), gc,
                               1.0, 0.0);
          continue;
        }
        cpu_backend().matmul(matrix(scratch, 0, CK, n, n), transposed(w), gc, 1.0, 0.0);
        col2im_add(grad_x.data<T>() + b * g.C * g.H * g.W, scratch.data<T>(), g, oy0, rows);
      }
  });
}

// The fast kernels of nn.conv2d and nn.conv2d_backward.
const bool registered = register_fused_kernel("nn.conv2d", DeviceType::CPU, &conv2d) &&
                        register_fused_kernel("nn.conv2d_backward", DeviceType::CPU, &conv2d_backward);

}  // namespace

}  // namespace promoe
