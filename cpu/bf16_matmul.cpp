// oneDNN matmul primitives for bf16 products (see bf16_matmul.h). Each product converts its two
// operands into per-thread bf16 scratch, packed in the operand's own order (a transposed view stays
// a column-major matrix, no transpose pass), and runs a primitive taken from a cache keyed by the
// product's geometry, so a training step creates its primitives once.
#include "cpu/bf16_matmul.h"

#include <atomic>

#ifdef PROMOE_WITH_ONEDNN
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "tensor/dtype.h"
#endif

namespace promoe::cpu {

namespace {
std::atomic<bool> native_allowed{true};
}

void allow_native_bf16(bool allow) { native_allowed = allow; }

#ifndef PROMOE_WITH_ONEDNN

bool has_native_bf16() { return false; }
bool native_bf16_enabled() { return false; }
bool native_bf16_matmul(float*, int64_t, bool, FloatMatrix, FloatMatrix, int64_t, int64_t, int64_t, float, float,
                        bool) {
  return false;
}

#else

namespace {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Strides of an (rows, cols) matrix with leading dimension ld in the given order.
memory::dims strides_of(bool row_major, int64_t ld) { return row_major ? memory::dims{ld, 1} : memory::dims{1, ld}; }

// The product's geometry: M, K, N, out's leading dimension, the three orders, alpha and beta.
struct Geometry {
  int64_t M, K, N, ldo;
  bool a_row, b_row, o_row;
  float alpha, beta;
  auto key() const { return std::tie(M, K, N, ldo, a_row, b_row, o_row, alpha, beta); }
  bool operator<(const Geometry& o) const { return key() < o.key(); }
};

// The three memory descriptors: bf16 operands packed in their orders, the f32 output as it lies.
struct Descs {
  memory::desc a, b, out;
};
Descs descs_of(const Geometry& g) {
  const int64_t lda = g.a_row ? g.K : g.M, ldb = g.b_row ? g.N : g.K;
  return {memory::desc({g.M, g.K}, memory::data_type::bf16, strides_of(g.a_row, lda)),
          memory::desc({g.K, g.N}, memory::data_type::bf16, strides_of(g.b_row, ldb)),
          memory::desc({g.M, g.N}, memory::data_type::f32, strides_of(g.o_row, g.ldo))};
}

// A primitive and the size of the scratch memory it needs per call. The scratch is the caller's
// (per thread): with oneDNN's own, one primitive must not run on two threads at once.
struct Product {
  dnnl::matmul primitive;
  memory::desc scratch;
};

Product make_product(const Geometry& g, std::string* impl = nullptr) {
  const Descs d = descs_of(g);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (g.alpha != 1.0f) attr.set_output_scales(0, {g.alpha});
  if (g.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(g.beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(d.a, d.b, d.out), attr, cpu_engine());
  if (impl) *impl = pd.impl_info_str();
  return {dnnl::matmul(pd), pd.scratchpad_desc()};
}

// Whether oneDNN multiplies bf16 on this CPU's own bf16 units (AMX or AVX512-BF16) rather than by
// emulation or its reference loops, which would be slower than the f32 product of rounded copies.
bool probe_native() {
  try {
    std::string impl;
    make_product(Geometry{64, 64, 64, 64, true, true, true, 1.0f, 0.0f}, &impl);
    return impl.find("amx") != std::string::npos || impl.find("bf16") != std::string::npos;
  } catch (const dnnl::error&) {
    return false;
  }
}

const Product& cached_product(const Geometry& g) {
  static std::mutex mutex;
  static std::map<Geometry, Product> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(g);
  if (it == cache.end()) {
    if (cache.size() >= 4096) cache.clear();  // shapes that keep changing: start over
    it = cache.emplace(g, make_product(g)).first;
  }
  return it->second;  // std::map nodes stay put while other keys are added
}

// n floats to bf16, round to nearest even. The AVX512-BF16 instruction, where the build targets
// it, treats denormal inputs as zero; the scalar conversion rounds them.
void to_bf16(uint16_t* dst, const float* src, int64_t n) {
  int64_t j = 0;
#ifdef __AVX512BF16__
  for (; j + 16 <= n; j += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + j)));
#endif
  for (; j < n; ++j) dst[j] = f32_to_bf16(src[j]);
}

// A (rows, cols) operand and its bf16 copy, packed in the operand's order and zero-padded to
// (padded_rows, padded_cols).
struct Pack {
  const FloatMatrix& m;
  int64_t rows, cols, padded_rows, padded_cols;
  uint16_t* scratch;
  int64_t lines() const { return m.row_major ? padded_rows : padded_cols; }
  int64_t used_lines() const { return m.row_major ? rows : cols; }
  int64_t length() const { return m.row_major ? cols : rows; }
  int64_t padded_length() const { return m.row_major ? padded_cols : padded_rows; }
  void line(int64_t i) const {
    uint16_t* dst = scratch + i * padded_length();
    int64_t done = 0;
    if (i < used_lines()) {
      const int64_t ld = used_lines() == 1 ? length() : m.ld;
      to_bf16(dst, m.p + i * ld, length());
      done = length();
    }
    std::fill(dst + done, dst + padded_length(), uint16_t(0));
  }
};

// Both operands in one parallel region when the work is worth sharing and no region encloses us.
void pack_both(const Pack& a, const Pack& b) {
  const bool share = !omp_in_parallel() && a.rows * a.cols + b.rows * b.cols >= (int64_t(1) << 16);
#pragma omp parallel if (share)
  {
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < a.lines(); ++i) a.line(i);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < b.lines(); ++i) b.line(i);
  }
}

// Per-thread scratch that keeps its largest size and leaves its contents uninitialised (a vector's
// resize would zero whatever it grows by, on every call that needs more than the last one).
template <typename T>
class Scratch {
 public:
  T* get(int64_t n) {
    if (size_t(n) > capacity_) {
      data_.reset(new T[size_t(n)]);
      capacity_ = size_t(n);
    }
    return data_.get();
  }

 private:
  std::unique_ptr<T[]> data_;
  size_t capacity_ = 0;
};

// Sizes that vary from call to call are rounded up to a multiple of this: zero rows and columns
// added to the operands leave the product's sums unchanged, and a few cached primitives serve
// every size.
constexpr int64_t kSizeStep = 32;
int64_t round_up(int64_t n) { return (n + kSizeStep - 1) / kSizeStep * kSizeStep; }

}  // namespace

bool has_native_bf16() {
  static const bool native = probe_native();
  return native;
}

bool native_bf16_enabled() { return native_allowed && has_native_bf16(); }

bool native_bf16_matmul(float* out, int64_t ldo, bool out_row_major, FloatMatrix a, FloatMatrix b, int64_t M, int64_t K,
                        int64_t N, float alpha, float beta, bool sizes_vary) {
  if (!native_bf16_enabled() || M == 0 || N == 0 || K == 0) return false;
  if ((out_row_major ? M : N) == 1) ldo = out_row_major ? N : M;  // one line: any stride is packed
  // Varying sizes: M and K padded (N is a layer width, fixed). A padded M writes its rows to scratch
  // first (past M they are not out's); a beta needs out's values there, so it keeps exact sizes.
  const bool pad = sizes_vary && beta == 0.0f;
  const int64_t Mp = pad ? round_up(M) : M, Kp = pad ? round_up(K) : K;
  thread_local Scratch<uint16_t> scratch_a, scratch_b;
  thread_local Scratch<float> scratch_out;
  thread_local Scratch<char> scratchpad;
  uint16_t* pa = scratch_a.get(Mp * Kp);
  uint16_t* pb = scratch_b.get(Kp * N);
  pack_both({a, M, K, Mp, Kp, pa}, {b, K, N, Kp, N, pb});
  const bool via_scratch = Mp != M;
  float* dst = via_scratch ? scratch_out.get(Mp * N) : out;
  const Geometry geometry{Mp,    Kp,  N, via_scratch ? N : ldo, a.row_major, b.row_major, via_scratch || out_row_major,
                          alpha, beta};
  const Product& product = cached_product(geometry);
  const Descs d = descs_of(geometry);
  memory ma(d.a, cpu_engine(), pa), mb(d.b, cpu_engine(), pb), mo(d.out, cpu_engine(), dst);
  memory mscratch(product.scratch, cpu_engine(), scratchpad.get(int64_t(product.scratch.get_size())));
  thread_local dnnl::stream stream(cpu_engine());
  product.primitive.execute(
      stream, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mo}, {DNNL_ARG_SCRATCHPAD, mscratch}});
  stream.wait();
  if (via_scratch) {  // rows [0, M) of the row-major (Mp, N) scratch into out
    for (int64_t i = 0; i < M; ++i) {
      const float* row = dst + i * N;
      if (out_row_major)
        std::copy(row, row + N, out + i * ldo);
      else
        for (int64_t j = 0; j < N; ++j) out[i + j * ldo] = row[j];
    }
  }
  return true;
}

#endif

}  // namespace promoe::cpu
