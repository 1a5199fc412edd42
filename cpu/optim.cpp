// The optimizer's fused kernels on the CPU (declared in nn/fused_optim.h): AdamW on one tensor and
// on a whole list, the EMA of a list, the sum of squares of a list.
#include <cmath>
#include <vector>

#include "cpu/strided.h"
#include "tensor/fused.h"
#include "tensor/scalar_math.h"

namespace promoe {

namespace {

// The list-wide kernels (AdamW, EMA, sum of squares) cut every tensor of the list into fixed slices
// of kChunk elements and run all slices in one parallel loop: a model of many small tensors (a bank
// of experts) pays one parallel region, and sums taken per slice do not depend on the thread count.
constexpr int64_t kChunk = 16384;
struct Chunk {
  size_t slot;  // which tensor of the list
  int64_t begin, end;
};
std::vector<Chunk> chunks_of(const std::vector<Tensor>& ts) {
  std::vector<Chunk> chunks;
  for (size_t s = 0; s < ts.size(); ++s)
    for (int64_t b = 0; b < ts[s].numel(); b += kChunk) chunks.push_back({s, b, std::min(ts[s].numel(), b + kChunk)});
  return chunks;
}

void adamw(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
           double beta2, double eps, double weight_decay, int64_t step, double grad_scale) {
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  cpu::dispatch_float(param.dtype(), "adamw", [&]<typename T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const int64_t n = param.numel();
    const T gs = T(grad_scale);
#pragma omp parallel for simd schedule(static) if (n > 8192)
    for (int64_t i = 0; i < n; ++i)
      math::adamw<T>(p[i], g[i] * gs, pm[i], pv[i], T(lr), T(beta1), T(beta2), T(eps), T(weight_decay), T(bias1),
                     T(bias2_sqrt));
  });
}

// Chunks of at most 16K elements over all slots, shared out in one parallel loop; each element's
// update is adamw()'s, so the result does not depend on the grouping.
void adamw_list(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& ms,
                const std::vector<Tensor>& vs, double lr, double beta1, double beta2, double eps, double weight_decay,
                int64_t step, double grad_scale) {
  for (const Tensor& p : params)
    PROMOE_CHECK(p.dtype() == params[0].dtype(), "adamw_list: parameters of different dtypes");
  const std::vector<Chunk> chunks = chunks_of(params);
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
  const int64_t n = int64_t(chunks.size());
  if (n == 0) return;
  cpu::dispatch_float(params[0].dtype(), "adamw", [&]<typename T>() {
    const T gs = T(grad_scale);
#pragma omp parallel for schedule(static) if (n > 1)
    for (int64_t c = 0; c < n; ++c) {
      const Chunk& k = chunks[c];
      T* p = params[k.slot].data<T>();
      const T* g = grads[k.slot].data<T>();
      T* pm = ms[k.slot].data<T>();
      T* pv = vs[k.slot].data<T>();
#pragma omp simd
      for (int64_t i = k.begin; i < k.end; ++i)
        math::adamw<T>(p[i], g[i] * gs, pm[i], pv[i], T(lr), T(beta1), T(beta2), T(eps), T(weight_decay), T(bias1),
                       T(bias2_sqrt));
    }
  });
}

// shadow = decay * shadow + (1 - decay) * param, as torch's mul_(decay).add_(param, alpha=1 - decay).
void ema_list(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) {
  for (const Tensor& p : params) PROMOE_CHECK(p.dtype() == params[0].dtype(), "ema_list: tensors of different dtypes");
  const std::vector<Chunk> chunks = chunks_of(params);
  const int64_t n = int64_t(chunks.size());
  if (n == 0) return;
  cpu::dispatch_float(params[0].dtype(), "ema_list", [&]<typename T>() {
    const T keep = T(decay), take = T(1.0 - decay);
#pragma omp parallel for schedule(static) if (n > 1)
    for (int64_t c = 0; c < n; ++c) {
      const Chunk& k = chunks[c];
      T* s = shadows[k.slot].data<T>();
      const T* p = params[k.slot].data<T>();
#pragma omp simd
      for (int64_t i = k.begin; i < k.end; ++i) s[i] = s[i] * keep + p[i] * take;
    }
  });
}

// Fixed chunks over all tensors, each summed in double, added in order: one parallel pass, and a
// result that does not depend on the thread count.
double sum_of_squares(const std::vector<Tensor>& ts) {
  const std::vector<Chunk> chunks = chunks_of(ts);
  const int64_t n = int64_t(chunks.size());
  std::vector<double> partial(n);
#pragma omp parallel for schedule(static) if (n > 4)
  for (int64_t i = 0; i < n; ++i) {
    const Chunk& c = chunks[i];
    partial[i] = cpu::dispatch_float(ts[c.slot].dtype(), "sum_of_squares", [&]<typename T>() {
      const T* x = ts[c.slot].data<T>();
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = c.begin; j < c.end; ++j) acc += double(x[j]) * double(x[j]);
      return acc;
    });
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// The fast kernels of optim.adamw, optim.adamw_list, optim.ema_list, optim.sum_of_squares.
const bool registered = register_fused_kernel("optim.adamw", DeviceType::CPU, &adamw) &&
                        register_fused_kernel("optim.adamw_list", DeviceType::CPU, &adamw_list) &&
                        register_fused_kernel("optim.ema_list", DeviceType::CPU, &ema_list) &&
                        register_fused_kernel("optim.sum_of_squares", DeviceType::CPU, &sum_of_squares);

}  // namespace

}  // namespace promoe
