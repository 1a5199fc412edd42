// Register-blocked head products: the columns in panels of up to four SIMD vectors (AVX-512 or
// AVX2 with FMA, whichever the build targets), the rows of a panel a few at a time so that their
// accumulators fill the vector registers, the columns left over (N not a multiple of the vector
// width) element by element with std::fma, which rounds exactly as the vector FMA does.
#include "cpu/head_product.h"

#include <cmath>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace promoe::cpu {

namespace {

#if defined(__AVX512F__)
struct Vec {
  static constexpr int width = 16, registers = 32;
  __m512 v;
  static Vec zero() { return {_mm512_setzero_ps()}; }
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Vec splat(float x) { return {_mm512_set1_ps(x)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void fma(Vec a, Vec b) { v = _mm512_fmadd_ps(a.v, b.v, v); }
  Vec times(Vec a) const { return {_mm512_mul_ps(v, a.v)}; }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct Vec {
  static constexpr int width = 8, registers = 16;
  __m256 v;
  static Vec zero() { return {_mm256_setzero_ps()}; }
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec splat(float x) { return {_mm256_set1_ps(x)}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void fma(Vec a, Vec b) { v = _mm256_fmadd_ps(a.v, b.v, v); }
  Vec times(Vec a) const { return {_mm256_mul_ps(v, a.v)}; }
};
#else
struct Vec {  // no SIMD target: one lane, the same arithmetic
  static constexpr int width = 1, registers = 16;
  float v;
  static Vec zero() { return {0.0f}; }
  static Vec load(const float* p) { return {*p}; }
  static Vec splat(float x) { return {x}; }
  void store(float* p) const { *p = v; }
  void fma(Vec a, Vec b) { v = std::fma(a.v, b.v, v); }
  Vec times(Vec a) const { return {v * a.v}; }
};
#endif

// Rows per block for a panel of V vectors: as many as leave room for the V loads of b and one
// broadcast of a, rounded down to a power of two (row counts are mostly multiples of 8), at most 8.
constexpr int rows_for(int V) {
  const int r = (Vec::registers - V - 1) / V;
  return r >= 8 ? 8 : r >= 4 ? 4 : r >= 2 ? 2 : 1;
}

// Rows [i, i + R) by the V * width columns at j of c.
template <int V, int R>
void block(int64_t i, int64_t j, int64_t K, Vec alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
           float* c, int64_t ldc) {
  Vec acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < V; ++u) acc[r][u] = Vec::zero();
  for (int64_t k = 0; k < K; ++k) {
    Vec bk[V];
    for (int u = 0; u < V; ++u) bk[u] = Vec::load(b + k * ldb + j + u * Vec::width);
    for (int r = 0; r < R; ++r) {
      const Vec ar = Vec::splat(a[(i + r) * lda + k]);
      for (int u = 0; u < V; ++u) acc[r][u].fma(ar, bk[u]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < V; ++u) acc[r][u].times(alpha).store(c + (i + r) * ldc + j + u * Vec::width);
}

// Every row of the V * width columns at j.
template <int V>
void panel(int64_t M, int64_t j, int64_t K, Vec alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
           float* c, int64_t ldc) {
  constexpr int R = rows_for(V);
  int64_t i = 0;
  for (; i + R <= M; i += R) block<V, R>(i, j, K, alpha, a, lda, b, ldb, c, ldc);
  for (; i < M; ++i) block<V, 1>(i, j, K, alpha, a, lda, b, ldb, c, ldc);
}

// Element (i, j) of c: the FMA chain over k from zero, then alpha.
float element(int64_t i, int64_t j, int64_t K, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb) {
  float acc = 0.0f;
  for (int64_t k = 0; k < K; ++k) acc = std::fma(a[i * lda + k], b[k * ldb + j], acc);
  return alpha * acc;
}

}  // namespace

void head_product(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc) {
  constexpr int64_t W = Vec::width;
  const Vec va = Vec::splat(alpha);
  int64_t j = 0;
  for (; j + 4 * W <= N; j += 4 * W) panel<4>(M, j, K, va, a, lda, b, ldb, c, ldc);
  if (j + 3 * W <= N) {
    panel<3>(M, j, K, va, a, lda, b, ldb, c, ldc);
    j += 3 * W;
  } else if (j + 2 * W <= N) {
    panel<2>(M, j, K, va, a, lda, b, ldb, c, ldc);
    j += 2 * W;
  } else if (j + W <= N) {
    panel<1>(M, j, K, va, a, lda, b, ldb, c, ldc);
    j += W;
  }
  for (int64_t i = 0; i < M; ++i)
    for (int64_t jj = j; jj < N; ++jj) c[i * ldc + jj] = element(i, jj, K, alpha, a, lda, b, ldb);
}

void head_product_reference(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
                            int64_t ldb, float* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = element(i, j, K, alpha, a, lda, b, ldb);
}

}  // namespace promoe::cpu
