// Forward values of the normalisation, loss, joining and indexing ops against hand-computed or
// naive references: softmax / log_softmax, layer_norm, normalize, cross_entropy, mse_loss,
// cat / stack / split / chunk, index_select / gather / scatter_add / index_add, embedding,
// topk and sort (ties to the lower index first), clamp; the fused attention, adaLN and bias + GELU kernels
// against their composed defaults.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/ops.h"
#include "fused_ops.h"

using namespace promoe;

namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

// Naive softmax of each row of a (rows, n) row-major array.
std::vector<double> softmax_rows(const std::vector<double>& x, int64_t n, bool log) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / n; ++r) {
    double mx = -1e300, s = 0;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) s += std::exp(x[r * n + i] - mx);
    for (int64_t i = 0; i < n; ++i)
      y[r * n + i] = log ? x[r * n + i] - mx - std::log(s) : std::exp(x[r * n + i] - mx) / s;
  }
  return y;
}

}  // namespace

TEST_CASE("softmax and log_softmax along any dim, stable for large inputs") {
  Tensor x = raw::from_vector<double>({1, 2, 3, 1000, 1001, 1002}, {2, 3});
  check_close(vals(raw::softmax(x, 1)),
              {0.09003057317038046, 0.24472847105479764, 0.6652409557748219, 0.09003057317038046, 0.24472847105479764,
               0.6652409557748219},
              1e-12);
  check_close(vals(raw::softmax(x, -1, true)),
              {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806, -2.4076059644443806, -1.4076059644443806,
               -0.4076059644443806},
              1e-12);
  // Along dim 0 of a (3, 4, 5) tensor and along dim 1 of its transposed view.
  Generator gen(1);
  Tensor a = gen.randn({3, 4, 5}, DType::F64);
  Tensor moved = raw::contiguous(raw::permute(a, {1, 2, 0}));  // (4, 5, 3): dim 0 last
  std::vector<double> want = softmax_rows(vals(moved), 3, false);
  check_close(vals(raw::contiguous(raw::permute(raw::softmax(a, 0), {1, 2, 0}))), want, 1e-12);
  Tensor t = raw::transpose(a, 1, 2);  // (3, 5, 4)
  check_close(vals(raw::softmax(t, -1, true)), softmax_rows(vals(t), 4, true), 1e-12);
  CHECK(raw::softmax(t, 0).shape() == t.shape());
  // Differentiable entry points agree; f32 too.
  check_close(vals(softmax(a, 2)), softmax_rows(vals(a), 5, false), 1e-12);
  check_close(vals(log_softmax(raw::to(a, DType::F32), 2)), softmax_rows(vals(a), 5, true), 1e-5);
}

TEST_CASE("layer_norm: raw statistics and the affine version") {
  Tensor x = raw::from_vector<double>({1, 2, 3, 4, -1, 0, 1, 6}, {2, 4});
  raw::LayerNormResult r = raw::layer_norm(x, 1e-5);
  check_close(vals(r.mean), {2.5, 1.5}, 1e-12);
  // Biased variances 1.25 and 7.25.
  check_close(vals(r.rstd), {1 / std::sqrt(1.25 + 1e-5), 1 / std::sqrt(7.25 + 1e-5)}, 1e-12);
  std::vector<double> want;
  std::vector<double> xv = vals(x);
  for (int i = 0; i < 8; ++i) want.push_back((xv[i] - (i < 4 ? 2.5 : 1.5)) / std::sqrt((i < 4 ? 1.25 : 7.25) + 1e-5));
  check_close(vals(r.out), want, 1e-12);
  Tensor w = raw::from_vector<double>({1, 2, 3, 4}, {4}), b = raw::from_vector<double>({0, 1, 0, -1}, {4});
  std::vector<double> aff;
  for (int i = 0; i < 8; ++i) aff.push_back(want[i] * (i % 4 + 1) + std::vector<double>{0, 1, 0, -1}[i % 4]);
  check_close(vals(layer_norm(x, 1e-5, w, b)), aff, 1e-12);
  // A non-contiguous input normalises its logical rows.
  Tensor xt = raw::transpose(raw::from_vector<double>({1, -1, 2, 0, 3, 1, 4, 6}, {4, 2}), 0, 1);  // == x
  check_close(vals(layer_norm(xt, 1e-5)), want, 1e-12);
}

TEST_CASE("normalize divides by the clamped L2 norm") {
  Tensor x = raw::from_vector<double>({3, 4, 0, 0, 1e-14, 0}, {3, 2});
  check_close(vals(normalize(x, 1)), {0.6, 0.8, 0, 0, 1e-14 / 1e-12, 0}, 1e-12);
  check_close(vals(normalize(raw::from_vector<double>({3, 0, 4, 5}, {2, 2}), 0)), {0.6, 0, 0.8, 1}, 1e-12);
}

TEST_CASE("cross_entropy and mse_loss") {
  Tensor logits = raw::from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3});
  Tensor targets = raw::from_vector<int64_t>({2, 0}, {2});
  double l0 = -(3 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0))), l1 = std::log(3.0);
  CHECK(cross_entropy(logits, targets).item() == doctest::Approx((l0 + l1) / 2).epsilon(1e-12));
  CHECK(cross_entropy(logits, targets).dim() == 0);
  Tensor p = raw::from_vector<double>({1, 2, 3}, {3}), q = raw::from_vector<double>({1, 0, 5}, {3});
  CHECK(mse_loss(p, q).item() == doctest::Approx((0 + 4 + 4) / 3.0));
}

TEST_CASE("cat, stack, split and chunk") {
  Tensor a = raw::from_vector<float>({1, 2, 3, 4}, {2, 2}), b = raw::from_vector<float>({5, 6}, {1, 2});
  Tensor c0 = raw::cat({a, b}, 0);
  CHECK(c0.shape() == Shape{3, 2});
  CHECK(vals(c0) == std::vector<double>{1, 2, 3, 4, 5, 6});
  Tensor c1 = raw::cat({a, raw::transpose(a, 0, 1), raw::from_vector<float>({9, 8}, {2, 1})}, 1);
  CHECK(c1.shape() == Shape{2, 5});
  CHECK(vals(c1) == std::vector<double>{1, 2, 1, 3, 9, 3, 4, 2, 4, 8});
  CHECK(vals(cat({a, raw::zeros({0, 2})}, 0)) == vals(a));
  Tensor s = raw::stack({a, a}, 1);  // (2, 2, 2)
  CHECK(s.shape() == Shape{2, 2, 2});
  CHECK(vals(s) == std::vector<double>{1, 2, 1, 2, 3, 4, 3, 4});
  Tensor sl = stack({a, raw::transpose(a, 0, 1)}, -1);  // (2, 2, 2): pairs (a[i][j], a[j][i])
  CHECK(vals(sl) == std::vector<double>{1, 1, 2, 3, 3, 2, 4, 4});

  Tensor x = raw::reshape(raw::arange(0, 14, 1, DType::F32), {7, 2});
  std::vector<Tensor> parts = split(x, 3, 0);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].shape() == Shape{3, 2});
  CHECK(parts[2].shape() == Shape{1, 2});
  CHECK(vals(parts[2]) == std::vector<double>{12, 13});
  CHECK(parts[1].storage().get() == x.storage().get());  // pieces are views
  std::vector<Tensor> ch = chunk(x, 3, 0);               // sizes 3, 3, 1
  REQUIRE(ch.size() == 3);
  CHECK(ch[1].shape() == Shape{3, 2});
  CHECK(vals(ch[1]) == std::vector<double>{6, 7, 8, 9, 10, 11});
  std::vector<Tensor> cols = chunk(x, 2, 1);
  REQUIRE(cols.size() == 2);
  CHECK(vals(cols[1]) == std::vector<double>{1, 3, 5, 7, 9, 11, 13});
  CHECK(vals(cat(split(x, 2, 0), 0)) == vals(x));
}

TEST_CASE("index_select and index_add along any dim, with repeated indices") {
  Tensor a = raw::reshape(raw::arange(0, 12, 1, DType::F64), {3, 4});
  Tensor idx = raw::from_vector<int64_t>({2, 0, 2}, {3});
  CHECK(vals(raw::index_select(a, 0, idx)) == std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  CHECK(vals(raw::index_select(a, 1, idx)) == std::vector<double>{2, 0, 2, 6, 4, 6, 10, 8, 10});
  CHECK(vals(raw::index_select(raw::transpose(a, 0, 1), 1, idx)) ==
        std::vector<double>{8, 0, 8, 9, 1, 9, 10, 2, 10, 11, 3, 11});
  CHECK(raw::index_select(a, 0, raw::from_vector<int64_t>({}, {0})).shape() == Shape{0, 4});

  Tensor src = raw::ones({3, 4}, DType::F64);
  Tensor added = raw::index_add(a, 0, idx, src);  // row 2 gets +2, row 0 gets +1
  CHECK(vals(added) == std::vector<double>{1, 2, 3, 4, 4, 5, 6, 7, 10, 11, 12, 13});
  CHECK(vals(a)[0] == 0);  // out-of-place
  Tensor cols = raw::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor dst = raw::zeros({3, 4}, DType::F64);
  raw::index_add_(dst, 1, raw::from_vector<int64_t>({3, 3}, {2}), cols);
  CHECK(vals(dst) == std::vector<double>{0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 11});
  // Differentiable index_add on a strided destination view.
  Tensor base = raw::zeros({4, 3}, DType::F64);
  Tensor r = index_add(raw::transpose(base, 0, 1), 1, raw::from_vector<int64_t>({1}, {1}),
                       raw::from_vector<double>({7, 8, 9}, {3, 1}));
  CHECK(vals(r) == std::vector<double>{0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0});
  // Rows into rows, large enough for the column-parallel path: repeated rows add in index order.
  Generator gen(23);
  Tensor many = gen.randn({900, 130}, DType::F64), into = gen.randn({40, 130}, DType::F64);
  std::vector<int64_t> rows(900);
  for (int64_t j = 0; j < 900; ++j) rows[j] = (j * 7) % 40;
  Tensor sum = raw::index_add(into, 0, raw::from_vector<int64_t>(rows, {900}), many);
  std::vector<double> want = vals(into), m = vals(many);
  for (int64_t j = 0; j < 900; ++j)
    for (int64_t c = 0; c < 130; ++c) want[rows[j] * 130 + c] += m[j * 130 + c];
  check_close(vals(sum), want, 1e-12);
}

TEST_CASE("gather and scatter_add follow PyTorch's index geometry") {
  Tensor a = raw::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  // dim 1: out[i][j] = a[i][idx[i][j]]
  Tensor i1 = raw::from_vector<int64_t>({2, 0, 1, 1}, {2, 2});
  CHECK(vals(raw::gather(a, 1, i1)) == std::vector<double>{3, 1, 5, 5});
  // dim 0: out[i][j] = a[idx[i][j]][j], index smaller than the input in dim 1.
  Tensor i0 = raw::from_vector<int64_t>({1, 0, 0, 1}, {2, 2});
  CHECK(vals(raw::gather(a, 0, i0)) == std::vector<double>{4, 2, 1, 5});
  // On a transposed input: at = (3, 2) = [[1, 4], [2, 5], [3, 6]].
  Tensor at = raw::transpose(a, 0, 1);
  CHECK(vals(raw::gather(at, 1, raw::from_vector<int64_t>({1, 0, 1}, {3, 1}))) == std::vector<double>{4, 2, 6});
  CHECK(vals(raw::gather(at, 0, raw::from_vector<int64_t>({2, 1}, {1, 2}))) == std::vector<double>{3, 5});

  // scatter_add: out[i][idx[i][j]] += src[i][j] (dim 1); repeated targets accumulate.
  Tensor z = raw::zeros({2, 3}, DType::F64);
  Tensor src = raw::from_vector<double>({10, 20, 30, 40}, {2, 2});
  CHECK(vals(raw::scatter_add(z, 1, i1, src)) == std::vector<double>{20, 0, 10, 0, 70, 0});
  CHECK(vals(raw::scatter_add(z, 0, i0, src)) == std::vector<double>{30, 20, 0, 10, 40, 0});
  // Non-contiguous source and index.
  Tensor srct = raw::transpose(src, 0, 1);  // [[10, 30], [20, 40]]
  Tensor it = raw::transpose(i1, 0, 1);     // [[2, 1], [0, 1]]
  CHECK(vals(raw::scatter_add(z, 1, it, srct)) == std::vector<double>{0, 30, 10, 20, 40, 0});
  // gather undoes a scatter of a permutation.
  Tensor perm = raw::from_vector<int64_t>({2, 0, 1, 1, 2, 0}, {2, 3});
  Tensor sc = raw::scatter_add(raw::zeros({2, 3}, DType::F64), 1, perm, a);
  CHECK(vals(raw::gather(sc, 1, perm)) == vals(a));
}

TEST_CASE("embedding looks rows up for indices of any shape") {
  Tensor w = raw::reshape(raw::arange(0, 8, 1, DType::F32), {4, 2});
  Tensor e = embedding(w, raw::from_vector<int64_t>({3, 0, 3, 1}, {2, 2}));
  CHECK(e.shape() == Shape{2, 2, 2});
  CHECK(vals(e) == std::vector<double>{6, 7, 0, 1, 6, 7, 2, 3});
  CHECK(embedding(w, raw::from_vector<int64_t>({2}, {})).shape() == Shape{2});
}

TEST_CASE("topk: values and indices, largest or smallest, ties to the lower index first") {
  Tensor x = raw::from_vector<double>({1, 5, 3, 5, 2, 0, 0, 9}, {2, 4});
  raw::ValuesIndices r = raw::topk(x, 2);
  CHECK(vals(r.values) == std::vector<double>{5, 5, 9, 2});
  CHECK(ints(r.indices) == std::vector<int64_t>{1, 3, 3, 0});
  raw::ValuesIndices s = raw::topk(x, 3, -1, false);
  CHECK(vals(s.values) == std::vector<double>{1, 3, 5, 0, 0, 2});
  CHECK(ints(s.indices) == std::vector<int64_t>{0, 2, 1, 1, 2, 0});
  // Along dim 0 of a (3, 2) tensor; k = n; k = 0.
  Tensor y = raw::from_vector<double>({4, 1, 4, 7, 2, 7}, {3, 2});
  raw::ValuesIndices d0 = raw::topk(y, 2, 0);
  CHECK(d0.values.shape() == Shape{2, 2});
  CHECK(vals(d0.values) == std::vector<double>{4, 7, 4, 7});
  CHECK(ints(d0.indices) == std::vector<int64_t>{0, 1, 1, 2});
  CHECK(ints(raw::topk(x, 4).indices) == std::vector<int64_t>{1, 3, 2, 0, 3, 0, 1, 2});
  CHECK(raw::topk(x, 0).values.shape() == Shape{2, 0});
  // A reverse-sorted long row: ties everywhere.
  Tensor ties = raw::zeros({1, 50}, DType::F32);
  std::vector<int64_t> first(10);
  std::iota(first.begin(), first.end(), 0);
  CHECK(ints(raw::topk(ties, 10).indices) == first);
  // k = 1 (the top-1 routing scan): ties to the lower index, smallest too, NaN above every number.
  CHECK(ints(raw::topk(x, 1).indices) == std::vector<int64_t>{1, 3});
  CHECK(vals(raw::topk(x, 1).values) == std::vector<double>{5, 9});
  CHECK(ints(raw::topk(x, 1, -1, false).indices) == std::vector<int64_t>{0, 1});
  Tensor with_nan = raw::from_vector<double>({1, NAN, 7, NAN}, {1, 4});
  CHECK(ints(raw::topk(with_nan, 1).indices) == std::vector<int64_t>{1});
  CHECK(ints(raw::topk(with_nan, 1, -1, false).indices) == std::vector<int64_t>{0});  // NaN is largest
  CHECK(ints(raw::topk(with_nan, 2).indices) == std::vector<int64_t>{1, 3});
  // The differentiable version returns the same.
  CHECK(ints(topk(x, 2).indices) == ints(r.indices));
}

TEST_CASE("sort and argsort are stable") {
  Tensor x = raw::from_vector<double>({3, 1, 2, 1, 3, 0}, {6});
  raw::ValuesIndices up = raw::sort(x);
  CHECK(vals(up.values) == std::vector<double>{0, 1, 1, 2, 3, 3});
  CHECK(ints(up.indices) == std::vector<int64_t>{5, 1, 3, 2, 0, 4});
  raw::ValuesIndices down = raw::sort(x, 0, true);
  CHECK(vals(down.values) == std::vector<double>{3, 3, 2, 1, 1, 0});
  CHECK(ints(down.indices) == std::vector<int64_t>{0, 4, 2, 1, 3, 5});
  // Columns of a matrix, i64 data.
  Tensor m = raw::from_vector<int64_t>({5, 1, 2, 7, 2, 3}, {3, 2});
  raw::ValuesIndices cs = raw::sort(m, 0);
  CHECK(ints(cs.values) == std::vector<int64_t>{2, 1, 2, 3, 5, 7});
  CHECK(ints(cs.indices) == std::vector<int64_t>{1, 0, 2, 2, 0, 1});
  CHECK(ints(sort(raw::to(x, DType::F32)).indices) == ints(up.indices));
}

TEST_CASE("clamp through the differentiable API") {
  Tensor x = raw::from_vector<double>({-2, -0.5, 0.25, 3}, {4});
  CHECK(vals(clamp(x, -1, 1)) == std::vector<double>{-1, -0.5, 0.25, 1});
  CHECK(vals(clamp(x, 0, 0)) == std::vector<double>{0, 0, 0, 0});
  CHECK(vals(relu(x)) == std::vector<double>{0, 0, 0.25, 3});
  CHECK(vals(abs(x)) == std::vector<double>{2, 0.5, 0.25, 3});
}

TEST_CASE("NaN ranks above every number in topk, sort and max") {
  Tensor x = raw::from_vector<double>({1, NAN, 3, 2, NAN}, {5});
  raw::ValuesIndices t = raw::topk(x, 3);
  CHECK(ints(t.indices) == std::vector<int64_t>{1, 4, 2});
  raw::ValuesIndices up = raw::sort(x);
  CHECK(ints(up.indices) == std::vector<int64_t>{0, 3, 2, 1, 4});
  CHECK(std::isnan(vals(up.values)[4]));
  CHECK(ints(raw::topk(x, 2, -1, false).indices) == std::vector<int64_t>{0, 3});
  raw::ValuesIndices m = raw::max_dim(x, 0, false);
  CHECK(std::isnan(m.values.item()));
  CHECK(m.indices.item() == 1);
  // A long row full of NaN must not break the sort (a comparator that is not a strict weak order can).
  std::vector<double> v(300);
  for (int i = 0; i < 300; ++i) v[i] = i % 3 == 0 ? NAN : double(i % 7);
  raw::ValuesIndices s = raw::sort(raw::from_vector<double>(v, {300}), 0, true);
  std::vector<double> sv = vals(s.values);
  for (int i = 0; i < 100; ++i) CHECK(std::isnan(sv[i]));
  for (int i = 101; i < 300; ++i) CHECK(sv[i - 1] >= sv[i]);
}

TEST_CASE("fused adaLN kernels of the CPU backend equal the backend-neutral composed defaults") {
  // The defaults (tensor/backend_adaln.cpp), which other backends inherit, run through qualified calls.
  Generator gen(21);
  for (int64_t B : {1, 5}) {
    CAPTURE(B);
    const int64_t N = 7, D = 130;
    Tensor x = gen.randn({B, N, D}), y = gen.randn({B, N, D}), g = gen.randn({B, N, D});
    Tensor shift = gen.randn({B, D}), scale = gen.randn({B, D}), gate = gen.randn({B, D});
    auto like = [](const Tensor& t) { return Tensor::empty(t.shape(), t.dtype()); };
    Tensor out = like(x), mean = Tensor::empty({B, N}), rstd = Tensor::empty({B, N});
    Tensor out_ref = like(x), mean_ref = like(mean), rstd_ref = like(rstd);
    test::cpu_kernel(nn::fused::layer_norm_modulate_op)(out, mean, rstd, x, shift, scale, 1e-6);
    nn::fused::layer_norm_modulate_reference(out_ref, mean_ref, rstd_ref, x, shift, scale, 1e-6);
    check_close(vals(out), vals(out_ref), 1e-5);
    check_close(vals(mean), vals(mean_ref), 1e-5);
    check_close(vals(rstd), vals(rstd_ref), 1e-5);
    Tensor gx = like(x), gsh = like(shift), gsc = like(scale), gx_ref = like(x), gsh_ref = like(shift),
           gsc_ref = like(scale);
    test::cpu_kernel(nn::fused::layer_norm_modulate_backward_op)(gx, gsh, gsc, g, x, mean, rstd, scale);
    nn::fused::layer_norm_modulate_backward_reference(gx_ref, gsh_ref, gsc_ref, g, x, mean, rstd, scale);
    check_close(vals(gx), vals(gx_ref), 1e-4);
    check_close(vals(gsh), vals(gsh_ref), 1e-5);
    check_close(vals(gsc), vals(gsc_ref), 1e-5);
    Tensor res = like(x), res_ref = like(x);
    test::cpu_kernel(nn::fused::gated_add_op)(res, x, gate, y);
    nn::fused::gated_add_reference(res_ref, x, gate, y);
    check_close(vals(res), vals(res_ref), 1e-6);
    Tensor gy = like(y), gg = like(gate), gy_ref = like(y), gg_ref = like(gate);
    test::cpu_kernel(nn::fused::gated_add_backward_op)(gy, gg, g, y, gate);
    nn::fused::gated_add_backward_reference(gy_ref, gg_ref, g, y, gate);
    check_close(vals(gy), vals(gy_ref), 1e-6);
    check_close(vals(gg), vals(gg_ref), 1e-5);
  }
}

TEST_CASE("fused attention of the CPU backend equals the composed default on head-split views") {
  Generator gen(24);
  struct Size {
    int64_t B, N, hd;
  };
  for (Size z : {Size{1, 9, 5}, Size{3, 9, 5}, Size{4, 64, 32}}) {  // the last shares pairs out over threads
    CAPTURE(z.B);
    const int64_t B = z.B, N = z.N, H = 2, hd = z.hd, D = H * hd;
    // Heads of a (B, N, 3D) qkv and of (B, N, D) outputs: strided views, as the attention op uses.
    auto heads = [&](const Tensor& t, int64_t parts, int64_t part) {
      Tensor r = raw::permute(raw::reshape(t, {B, N, parts, H, hd}), {2, 0, 3, 1, 4});
      return raw::select(r, 0, part);
    };
    Tensor qkv = gen.randn({B, N, 3 * D}), go_buf = gen.randn({B, N, D});
    Tensor q = heads(qkv, 3, 0), k = heads(qkv, 3, 1), v = heads(qkv, 3, 2), go = heads(go_buf, 1, 0);
    Tensor out = Tensor::empty({B, N, D}), out_ref = Tensor::empty({B, N, D});
    Tensor lse = Tensor::empty({B, H, N}), lse_ref = Tensor::empty({B, H, N});
    test::cpu_kernel(nn::fused::attention_op)(heads(out, 1, 0), lse, q, k, v, 0.3);
    nn::fused::attention_reference(heads(out_ref, 1, 0), lse_ref, q, k, v, 0.3);
    check_close(vals(out), vals(out_ref), 1e-5);
    check_close(vals(lse), vals(lse_ref), 1e-5);
    Tensor g = Tensor::empty({B, N, 3 * D}), g_ref = Tensor::empty({B, N, 3 * D});
    Tensor o = heads(out, 1, 0);
    test::cpu_kernel(nn::fused::attention_backward_op)(heads(g, 3, 0), heads(g, 3, 1), heads(g, 3, 2), go, q, k, v, o,
                                                       lse, 0.3);
    nn::fused::attention_backward_reference(heads(g_ref, 3, 0), heads(g_ref, 3, 1), heads(g_ref, 3, 2), go, q, k, v, o,
                                            lse, 0.3);
    check_close(vals(g), vals(g_ref), 1e-4);
  }
}

TEST_CASE("fused bias + GELU kernels of the CPU backend equal the composed defaults") {
  Generator gen(22);
  for (int64_t rows : {1, 300}) {
    CAPTURE(rows);
    const int64_t n = 130;
    Tensor pre = gen.randn({rows, n}), bias = gen.randn({n}), g = gen.randn({rows, n});
    Tensor pre_ref = raw::clone(pre), out = Tensor::empty({rows, n}), out_ref = Tensor::empty({rows, n});
    test::cpu_kernel(nn::fused::bias_gelu_op)(out, pre, bias);
    nn::fused::bias_gelu_reference(out_ref, pre_ref, bias);
    check_close(vals(pre), vals(pre_ref), 1e-6);  // the bias added in place
    check_close(vals(out), vals(out_ref), 1e-5);
    Tensor gp = Tensor::empty({rows, n}), gb = Tensor::empty({n}), gp_ref = Tensor::empty({rows, n}),
           gb_ref = Tensor::empty({n});
    test::cpu_kernel(nn::fused::bias_gelu_backward_op)(gp, gb, g, pre);
    nn::fused::bias_gelu_backward_reference(gp_ref, gb_ref, g, pre);
    check_close(vals(gp), vals(gp_ref), 1e-5);
    check_close(vals(gb), vals(gb_ref), 1e-4);
  }
}

TEST_CASE("adaLN ops reject shapes that are not x (B, N, D) with per-image (B, D) vectors") {
  Tensor x = raw::zeros({2, 3, 4}), v = raw::zeros({2, 4});
  CHECK_THROWS_WITH_AS(nn::fused::layer_norm_modulate(x, raw::zeros({3, 4}), v, 1e-6),
                       doctest::Contains("layer_norm_modulate: f32[3, 4] on cpu is not (B, D)"), Error);
  CHECK_THROWS_WITH_AS(nn::fused::gated_add(raw::zeros({6, 4}), v, raw::zeros({6, 4})),
                       doctest::Contains("gated_add: x must be (B, N, D)"), Error);
  CHECK_THROWS_WITH_AS(nn::fused::gated_add(x, v, raw::zeros({2, 3, 5})), doctest::Contains("does not match x"), Error);
}
