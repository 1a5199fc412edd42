// Host-side checks of the CUDA kernels' math, continued (see test_unit_cuda_math.cpp): reductions,
// row-wise kernels, indexing and top-k / sort, against the CPU backend.
#include <doctest/doctest.h>

#include "cuda_math_test_util.h"

using namespace cuda_math_test;

// ---------------------------------------------------------------------------------------------
// Reductions

namespace {

// reduce_warp_kernel and reduce_partials_kernel, lane by lane.
template <typename T>
void emulate_reduce_warps(ReduceOp op, const pc::rmath::Plan& p, pc::rmath::Split sp, const T* x, T* o) {
  auto comb = [op](double a, double b) { return pc::rmath::combine(op, a, b); };
  const int64_t P = sp.parts;
  std::vector<double> partial(size_t(p.M * P));
  for (int64_t w = 0; w < p.M * P; ++w) {
    const int64_t m = w / P, part = w % P;
    int64_t base;
    pc::offsets_of(p.kept, m, &base);
    const int64_t begin = part * sp.chunk, end = std::min(p.R, begin + sp.chunk);
    double lane[32];
    for (int l = 0; l < 32; ++l) {
      double acc = pc::rmath::identity(op);
      for (int64_t r = begin + l; r < end; r += 32) {
        int64_t off;
        pc::offsets_of(p.red, r, &off);
        acc = comb(acc, double(x[base + off]));
      }
      lane[l] = acc;
    }
    butterfly(lane, comb);
    if (P == 1)
      o[m] = pc::rmath::finalize<T>(op, lane[0], p.R);
    else
      partial[w] = lane[0];
  }
  if (P == 1) return;
  for (int64_t m = 0; m < p.M; ++m) {
    double lane[32];
    for (int l = 0; l < 32; ++l) {
      double acc = pc::rmath::identity(op);
      for (int64_t q = l; q < P; q += 32) acc = comb(acc, partial[m * P + q]);
      lane[l] = acc;
    }
    butterfly(lane, comb);
    o[m] = pc::rmath::finalize<T>(op, lane[0], p.R);
  }
}

// reduce_thread_kernel.
template <typename T>
void emulate_reduce_threads(ReduceOp op, const pc::rmath::Plan& p, const T* x, T* o) {
  for (int64_t m = 0; m < p.M; ++m) {
    int64_t base;
    pc::offsets_of(p.kept, m, &base);
    double acc = pc::rmath::identity(op);
    for (int64_t r = 0; r < p.R; ++r) {
      int64_t off;
      pc::offsets_of(p.red, r, &off);
      acc = pc::rmath::combine(op, acc, double(x[base + off]));
    }
    o[m] = pc::rmath::finalize<T>(op, acc, p.R);
  }
}

// `a` arranged as tensor/ops.cpp's reduce() hands it to a backend: kept dims, then reduced dims.
Tensor arrange_for_reduce(const Tensor& a, const std::vector<int64_t>& dims, Shape* kept_shape) {
  std::vector<int64_t> perm;
  std::vector<bool> red(a.dim(), false);
  for (int64_t d : dims) red[d] = true;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (!red[i]) {
      perm.push_back(i);
      kept_shape->push_back(a.shape()[i]);
    }
  for (int64_t i = 0; i < a.dim(); ++i)
    if (red[i]) perm.push_back(i);
  return raw::permute(a, perm);
}

}  // namespace

TEST_CASE("cuda math: reductions by warps (with split work) and by threads match the CPU") {
  Generator gen(7);
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const Case cases[] = {{{6, 7, 8}, {2}},       {{6, 7, 8}, {1, 2}}, {{6, 7, 8}, {0}}, {{6, 7, 8}, {0, 2}},
                        {{6, 7, 8}, {0, 1, 2}}, {{3, 5000}, {1}},    {{5000, 3}, {0}}, {{3, 2100}, {0}},
                        {{2, 0, 3}, {1}},       {{4, 1, 3}, {1}}};
  const ReduceOp ops[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min};
  for (const Case& c : cases)
    for (DType dt : {DType::F32, DType::F64, DType::I64})
      for (ReduceOp op : ops)
        for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted}) {
          if (op != ReduceOp::Sum && numel_of(c.shape) == 0) continue;
          Tensor a = random_view(gen, c.shape, dt, kind);
          if (dt == DType::F32 && op == ReduceOp::Max && a.numel() > 10) {  // a NaN must propagate
            a = raw::clone(a);
            a.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
          }
          Shape kept_shape;
          Tensor arranged = arrange_for_reduce(a, c.dims, &kept_shape);
          const int64_t n_reduced = int64_t(c.dims.size());
          Tensor want = Tensor::empty(kept_shape, dt);
          if (want.numel() == 0) continue;
          cpu().reduce(op, want, arranged, n_reduced);
          const pc::rmath::Plan p = pc::rmath::plan(want, arranged, n_reduced);
          const std::string what = std::string("reduce op ") + std::to_string(int(op)) + " " + dtype_name(dt) + " " +
                                   shape_str(c.shape) + " " + kind_name(kind);
          with_numeric(dt, [&](auto tag) {
            using T = decltype(tag);
            const T* x = arranged.data<T>();
            Tensor got = Tensor::empty(kept_shape, dt);
            emulate_reduce_warps<T>(op, p, p.split, x, got.data<T>());
            check_close(got, want, rtol_for(dt), 0, what + " (warps)");
            emulate_reduce_warps<T>(op, p, {3, (p.R + 2) / 3}, x, got.data<T>());  // forced three-way split
            check_close(got, want, rtol_for(dt), 0, what + " (warps, split in 3)");
            emulate_reduce_threads<T>(op, p, x, got.data<T>());
            check_close(got, want, rtol_for(dt), 0, what + " (threads)");
          });
        }
  // The plan picks what the kernels were written for.
  Tensor col = Tensor::empty({3, 2100});
  Shape kept;
  Tensor arranged = arrange_for_reduce(col, {0}, &kept);
  CHECK(pc::rmath::plan(Tensor::empty(kept), arranged, 1).by_thread);
  CHECK(pc::rmath::split_for(1, 1 << 20).parts > 1);
  CHECK(pc::rmath::split_for(100000, 64).parts == 1);
}

TEST_CASE("cuda math: arg max / min with ties and NaN match the CPU's sequential scan") {
  Generator gen(8);
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min})
      for (int64_t n : {1, 5, 31, 32, 33, 100})
        for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted}) {
          Tensor a = random_view(gen, {3, 4, n}, dt, kind);
          if (dt == DType::F32) {  // NaN at the head of row (0, 0), two NaN inside row (0, 1)
            float* p = a.data<float>();
            const float nan = std::numeric_limits<float>::quiet_NaN();
            p[0] = nan;
            if (n > 5) p[a.stride(1) + 2 * a.stride(2)] = p[a.stride(1) + 5 * a.stride(2)] = nan;
          }
          Tensor want_v = Tensor::empty({3, 4}, dt), want_i = Tensor::empty({3, 4}, DType::I64);
          Tensor got_v = Tensor::empty({3, 4}, dt), got_i = Tensor::empty({3, 4}, DType::I64);
          cpu().arg_reduce(op, want_v, want_i, a);
          const pc::rmath::ArgPlan p = pc::rmath::arg_plan(want_v, a);
          const bool is_max = op == ReduceOp::Max;
          with_numeric(dt, [&](auto tag) {
            using T = decltype(tag);
            struct Cand {
              T v;
              int64_t i;
            };
            auto better = [is_max](Cand a, Cand b) {  // the kernel's merge of a lane with its partner
              if (b.i >= 0 && (a.i < 0 || pc::rmath::arg_better(is_max, b.v, b.i, a.v, a.i))) return b;
              return a;
            };
            for (int64_t r = 0; r < p.rows; ++r) {
              int64_t base;
              pc::offsets_of(p.rows_geom, r, &base);
              const T* row = a.data<T>() + base;
              Cand lane[32];
              for (int l = 0; l < 32; ++l) {
                lane[l] = {T(0), -1};
                for (int64_t i = l; i < p.n; i += 32) lane[l] = better(lane[l], Cand{row[i * p.is], i});
              }
              butterfly(lane, better);
              got_v.data<T>()[r] = lane[0].v;
              got_i.data<int64_t>()[r] = lane[0].i;
            }
          });
          const std::string what = std::string("arg_reduce ") + dtype_name(dt) + " n=" + std::to_string(n);
          check_equal(got_v, want_v, what + " values");
          check_equal(got_i, want_i, what + " indices");
        }
}

// ---------------------------------------------------------------------------------------------
// Row-wise

namespace {

namespace rm = promoe::cuda::rowmath;

// rowwise.cu's phases for one row shared by nl lanes; the group combine runs in lane order.
template <typename T>
void emulate_softmax_row(T* y, const T* x, int64_t n, bool log_out, int nl) {
  T mx = rm::lane_max(x, n, 0, nl);
  for (int l = 1; l < nl; ++l) mx = std::max(mx, rm::lane_max(x, n, l, nl));
  double s = 0;
  for (int l = 0; l < nl; ++l) s += rm::lane_sum_exp(x, n, mx, l, nl);
  for (int l = 0; l < nl; ++l) rm::softmax_apply(y, x, n, mx, s, log_out, l, nl);
}

template <typename T>
void emulate_softmax_backward_row(T* gi, const T* g, const T* y, int64_t n, bool log_out, int nl) {
  double s = 0;
  for (int l = 0; l < nl; ++l) s += rm::lane_softmax_grad_dot(g, y, n, log_out, l, nl);
  for (int l = 0; l < nl; ++l) rm::softmax_grad_apply(gi, g, y, n, s, log_out, l, nl);
}

template <typename T>
void emulate_layer_norm_row(T* y, T* mean, T* rstd, const T* x, int64_t n, double eps, int nl) {
  double s = 0, sq = 0;
  for (int l = 0; l < nl; ++l) s += rm::lane_sum(x, n, l, nl);
  const double mu = s / double(n);
  for (int l = 0; l < nl; ++l) sq += rm::lane_sq_dev(x, n, mu, l, nl);
  const double inv = rm::layer_norm_rstd(sq, n, eps);
  *mean = T(mu);
  *rstd = T(inv);
  for (int l = 0; l < nl; ++l) rm::layer_norm_apply(y, x, n, mu, inv, l, nl);
}

template <typename T>
void emulate_layer_norm_backward_row(T* gi, const T* g, const T* x, T mean, T rstd, int64_t n, int nl) {
  const double mu = mean, inv = rstd;
  double sg = 0, sgx = 0;
  for (int l = 0; l < nl; ++l) {
    double a, b;
    rm::lane_layer_norm_grad_sums(x, g, n, mu, inv, l, nl, &a, &b);
    sg += a;
    sgx += b;
  }
  for (int l = 0; l < nl; ++l) rm::layer_norm_grad_apply(gi, x, g, n, mu, inv, sg / double(n), sgx / double(n), l, nl);
}

}  // namespace

TEST_CASE("cuda math: softmax, log-softmax and LayerNorm rows (and backward) over lanes match the CPU") {
  Generator gen(9);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : {1, 5, 33, 300, 1500})
      for (int nl : {32, 256, 7}) {
        const int64_t rows = 3;
        const Shape shape{rows, n};
        Tensor x = raw::mul_scalar(gen.randn(shape, dt), 2.0), g = gen.randn(shape, dt);
        const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
        const std::string what =
            std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " lanes=" + std::to_string(nl);
        with_numeric(dt, [&](auto tag) {
          using T = decltype(tag);
          for (bool log_out : {false, true}) {
            Tensor want = Tensor::empty(shape, dt), got = Tensor::empty(shape, dt);
            Tensor want_gi = Tensor::empty(shape, dt), got_gi = Tensor::empty(shape, dt);
            cpu().softmax(want, x, log_out);
            cpu().softmax_backward(want_gi, g, want, log_out);
            for (int64_t r = 0; r < rows; ++r) {
              emulate_softmax_row(got.data<T>() + r * n, x.data<T>() + r * n, n, log_out, nl);
              emulate_softmax_backward_row(got_gi.data<T>() + r * n, g.data<T>() + r * n, want.data<T>() + r * n, n,
                                           log_out, nl);
            }
            const std::string name = log_out ? "log_softmax " : "softmax ";
            check_close(got, want, tol, tol, name + what);
            check_close(got_gi, want_gi, tol, tol, name + "backward " + what);
          }
          Tensor want = Tensor::empty(shape, dt), got = Tensor::empty(shape, dt);
          Tensor want_m = Tensor::empty({rows}, dt), got_m = Tensor::empty({rows}, dt);
          Tensor want_r = Tensor::empty({rows}, dt), got_r = Tensor::empty({rows}, dt);
          cpu().layer_norm(want, want_m, want_r, x, 1e-5);
          Tensor want_gi = Tensor::empty(shape, dt), got_gi = Tensor::empty(shape, dt);
          cpu().layer_norm_backward(want_gi, g, x, want_m, want_r);
          for (int64_t r = 0; r < rows; ++r) {
            emulate_layer_norm_row(got.data<T>() + r * n, got_m.data<T>() + r, got_r.data<T>() + r, x.data<T>() + r * n,
                                   n, 1e-5, nl);
            emulate_layer_norm_backward_row(got_gi.data<T>() + r * n, g.data<T>() + r * n, x.data<T>() + r * n,
                                            want_m.data<T>()[r], want_r.data<T>()[r], n, nl);
          }
          check_close(got, want, tol, tol, "layer_norm " + what);
          check_close(got_m, want_m, tol, tol, "layer_norm mean " + what);
          check_close(got_r, want_r, tol, tol, "layer_norm rstd " + what);
          check_close(got_gi, want_gi, tol, tol, "layer_norm backward " + what);
        });
      }
}

// ---------------------------------------------------------------------------------------------
// Indexing

namespace {

// index.cu's kernel, element by element (serially, so the adds happen in the CPU's order).
template <typename T>
void emulate_index(const pc::imath::Plan& p, const Tensor& index) {
  const int64_t* idx = index.data<int64_t>();
  T* v0 = static_cast<T*>(p.view0);
  T* v1 = static_cast<T*>(p.view1);
  for (int64_t f = 0; f < p.g.n; ++f) {
    int64_t off[2];
    const int64_t c = pc::imath::split_offsets(p.g, f, p.dim, off);
    const int64_t j = p.by_flat ? idx[f] : idx[c];
    REQUIRE(pc::imath::in_range(j, p.bound));
    const int64_t at = off[1] + j * p.dim_stride;
    if (p.add)
      v1[at] += v0[off[0]];
    else
      v0[off[0]] = v1[at];
  }
}

Tensor random_index(Generator& gen, const Shape& shape, int64_t bound) { return gen.randint(shape, 0, bound); }

}  // namespace

TEST_CASE("cuda math: index_select, index_add, gather and scatter_add over strided views match the CPU") {
  Generator gen(10);
  const Shape shape{5, 6, 7};
  using pc::imath::Mode;
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (int64_t dim = 0; dim < 3; ++dim)
      for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Narrowed}) {
        const std::string what = std::string(dtype_name(dt)) + " dim " + std::to_string(dim) + " " + kind_name(kind);
        with_numeric(dt, [&](auto tag) {
          using T = decltype(tag);
          // index_select: 9 picks with repeats.
          Tensor a = random_view(gen, shape, dt, kind);
          Tensor idx = random_index(gen, {9}, shape[dim]);
          Shape sel = shape;
          sel[dim] = 9;
          Tensor want = Tensor::empty(sel, dt), got = permuted_empty(sel, dt);
          cpu().index_select(want, a, dim, idx);
          emulate_index<T>(pc::imath::plan(Mode::IndexSelect, got, a, dim, idx), idx);
          check_equal(got, want, "index_select " + what);
          // index_add: the 9 slices of src add into out at idx.
          Tensor base = random_tensor(gen, shape, dt);
          Tensor want_out = raw::clone(base), got_out = raw::clone(base);
          Tensor src = random_view(gen, sel, dt, kind);
          cpu().index_add(want_out, dim, idx, src);
          emulate_index<T>(pc::imath::plan(Mode::IndexAdd, got_out, src, dim, idx), idx);
          check_close(got_out, want_out, rtol_for(dt), rtol_for(dt), "index_add " + what);
          // gather / scatter_add with an index smaller than the input in the other dims.
          Shape ish{3, 4, 5};
          ish[dim] = 9;
          Tensor gidx = random_index(gen, ish, shape[dim]);
          Tensor want_g = Tensor::empty(ish, dt), got_g = permuted_empty(ish, dt);
          cpu().gather(want_g, a, dim, gidx);
          emulate_index<T>(pc::imath::plan(Mode::Gather, got_g, a, dim, gidx), gidx);
          check_equal(got_g, want_g, "gather " + what);
          Tensor ssrc = random_view(gen, ish, dt, kind);
          Tensor want_s = raw::clone(base), got_s = raw::clone(base);
          cpu().scatter_add(want_s, dim, gidx, ssrc);
          emulate_index<T>(pc::imath::plan(Mode::ScatterAdd, got_s, ssrc, dim, gidx), gidx);
          check_close(got_s, want_s, rtol_for(dt), rtol_for(dt), "scatter_add " + what);
        });
      }
  CHECK(pc::imath::in_range(0, 3));
  CHECK_FALSE(pc::imath::in_range(3, 3));
  CHECK_FALSE(pc::imath::in_range(-1, 3));
}

// ---------------------------------------------------------------------------------------------
// Top-k and sort

TEST_CASE("cuda math: topk and sort by rank and by stable key sort match the CPU, ties and -0 included") {
  Generator gen(12);
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (int64_t n : {1, 7, 40, 300, 5000})
      for (bool largest : {true, false}) {
        const int64_t rows = 3;
        Tensor a = random_tensor(gen, {rows, n}, dt);
        if (dt != DType::I64) {  // ties: values rounded to halves, signed zeros and a few NaN
          a = raw::to(raw::mul_scalar(raw::to(raw::to(raw::mul_scalar(a, 2.0), DType::I64), DType::F64), 0.5), dt);
          with_numeric(dt, [&](auto tag) {
            using T = decltype(tag);
            T* p = a.data<T>();
            for (int64_t i = 0; i < a.numel(); i += 5) p[i] = (i / 5) % 2 ? T(-0.0) : T(0.0);
            for (int64_t i = 3; i < a.numel(); i += 11) p[i] = std::numeric_limits<T>::quiet_NaN();
          });
        }
        for (int64_t k : {int64_t(1), (n + 1) / 2, n}) {
          Tensor want_v = Tensor::empty({rows, k}, dt), want_i = Tensor::empty({rows, k}, DType::I64);
          cpu().topk(want_v, want_i, a, k, largest);
          const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                                   (largest ? " largest" : " smallest");
          with_numeric(dt, [&](auto tag) {
            using T = decltype(tag);
            const T* x = a.data<T>();
            // Rank kernel (only run on the GPU for n <= kRankMaxN; its math holds for any n).
            if (n <= 300) {
              Tensor v = Tensor::empty({rows, k}, dt), ix = Tensor::empty({rows, k}, DType::I64);
              for (int64_t r = 0; r < rows; ++r)
                for (int64_t i = 0; i < n; ++i) {
                  const int64_t pos = pc::smath::rank_in_row(x + r * n, n, i, largest);
                  if (pos < k) {
                    v.data<T>()[r * k + pos] = x[r * n + i];
                    ix.data<int64_t>()[r * k + pos] = i;
                  }
                }
              check_equal(v, want_v, "topk by rank values " + what);
              check_equal(ix, want_i, "topk by rank indices " + what);
            }
            // Key sort: keys ascending, stable, then the first k of each row.
            Tensor v = Tensor::empty({rows, k}, dt), ix = Tensor::empty({rows, k}, DType::I64);
            for (int64_t r = 0; r < rows; ++r) {
              std::vector<int64_t> order(n);
              std::iota(order.begin(), order.end(), 0);
              std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
                return pc::smath::sort_key(x[r * n + i], largest) < pc::smath::sort_key(x[r * n + j], largest);
              });
              for (int64_t j = 0; j < k; ++j) {
                v.data<T>()[r * k + j] = x[r * n + order[j]];
                ix.data<int64_t>()[r * k + j] = order[j];
              }
            }
            check_equal(v, want_v, "topk by key sort values " + what);
            check_equal(ix, want_i, "topk by key sort indices " + what);
          });
        }
      }
  // Keys order extreme values correctly.
  CHECK(pc::smath::sort_key(-std::numeric_limits<float>::infinity(), false) < pc::smath::sort_key(-1e30f, false));
  CHECK(pc::smath::sort_key(1e30f, false) < pc::smath::sort_key(std::numeric_limits<float>::infinity(), false));
  CHECK(pc::smath::sort_key(std::numeric_limits<int64_t>::min(), false) < pc::smath::sort_key(int64_t(-1), false));
  CHECK(pc::smath::sort_key(int64_t(-1), false) < pc::smath::sort_key(int64_t(0), false));
  CHECK(pc::smath::sort_key(-0.0, true) == pc::smath::sort_key(0.0, true));
}
