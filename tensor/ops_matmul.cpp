// Raw matrix products (PyTorch's matmul rules on top of the backend's batched GEMM) and row-wise
// normalisation (softmax, LayerNorm) with their backward kernels.
#include <algorithm>

#include "tensor/ops.h"
#include "tensor/ops_util.h"

namespace promoe {

namespace {
// The one stride that steps through `t`'s batch dims [from, nb) in row-major order, or -1 when
// their strides do not allow it. Size-1 dims do not count; broadcast dims of stride 0 fold only
// with other broadcast dims.
int64_t folded_batch_stride(const Tensor& t, int64_t from, int64_t nb) {
  int64_t stride = 0, expect = 0;
  bool first = true;
  for (int64_t i = nb - 1; i >= from; --i) {
    if (t.shape()[i] == 1) continue;
    if (first)
      stride = t.strides()[i];
    else if (t.strides()[i] != expect)
      return -1;
    first = false;
    expect = t.strides()[i] * t.shape()[i];
  }
  return stride;
}

// The 3-D view (count, rows, cols) of `t`'s batch dims [from, nb) at leading batch index `lead`
// (row-major over dims [0, from)), with batch stride `stride`.
Tensor batch_view(const Tensor& t, int64_t from, int64_t nb, int64_t lead, int64_t stride) {
  int64_t offset = t.offset(), count = 1;
  for (int64_t d = from - 1; d >= 0; --d) {
    offset += (lead % t.shape()[d]) * t.strides()[d];
    lead /= t.shape()[d];
  }
  for (int64_t d = from; d < nb; ++d) count *= t.shape()[d];
  return Tensor::view_of(t, {count, t.shape()[nb], t.shape()[nb + 1]}, {stride, t.strides()[nb], t.strides()[nb + 1]},
                         offset);
}

}  // namespace

// The default batched product: the trailing batch dims whose strides fold into one stride in both
// operands go to matmul() as one batched call, looping over the leading dims that do not fold (the
// head-split views of an attention block fold their heads but not heads with images). When fewer
// than 4 products would go per call, non-folding operands are copied once instead (a non-folding
// out is computed in a contiguous buffer and copied back), so that matmul() sees one large batch.
void Backend::batched_matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  const int64_t nb = out.dim() - 2;
  Tensor A = a, B = b, O = out;
  auto folds = [nb](const Tensor& t, int64_t from) { return folded_batch_stride(t, from, nb) >= 0; };
  int64_t from = 0;
  while (from < nb && !(folds(A, from) && folds(B, from) && folds(O, from))) ++from;
  int64_t lead = 1, inner = 1;
  for (int64_t d = 0; d < nb; ++d) (d < from ? lead : inner) *= out.shape()[d];
  if (from > 0 && inner < 4) {
    if (!folds(A, 0)) A = raw::clone(A);
    if (!folds(B, 0)) B = raw::clone(B);
    if (!folds(O, 0)) O = Tensor::empty(out.shape(), out.dtype(), out.device());
    from = 0;
    lead = 1;
  }
  const int64_t sa = folded_batch_stride(A, from, nb), sb = folded_batch_stride(B, from, nb),
                so = folded_batch_stride(O, from, nb);
  for (int64_t l = 0; l < lead; ++l)
    matmul(batch_view(O, from, nb, l, so), batch_view(A, from, nb, l, sa), batch_view(B, from, nb, l, sb), alpha, 0.0);
  if (!O.same(out)) copy(out, O);
}

}  // namespace promoe

namespace promoe::raw {

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Matrix products

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul");
  check_defined(b, "matmul");
  check_same_device(a, b, "matmul");
  check_same_dtype(a, b, "matmul");
  check_floating(a, "matmul");
  PROMOE_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least one dim, got ", describe(a), " and ",
               describe(b));
  Tensor A = a.dim() == 1 ? unsqueeze(a, 0) : a;
  Tensor Bm = b.dim() == 1 ? unsqueeze(b, 1) : b;
  int64_t M = A.size(-2), K = A.size(-1), N = Bm.size(-1);
  PROMOE_CHECK(Bm.size(-2) == K, "matmul: inner dims differ, ", describe(a), " @ ", describe(b));
  Tensor out;
  if (Bm.dim() == 2) {  // fold A's batch dims into its rows: one large GEMM
    Shape out_shape(A.shape().begin(), A.shape().end() - 1);
    out_shape.push_back(N);
    const int64_t rows = numel_of(Shape(A.shape().begin(), A.shape().end() - 1));
    Tensor A2 = reshape(A, {rows, K});  // a view unless A's batch dims cannot fold into its rows
    Tensor out2 = Tensor::empty({A2.size(0), N}, a.dtype(), a.device());
    if (out2.numel()) {
      if (K == 0)
        fill_(out2, 0.0);
      else
        be(a).matmul(unsqueeze(out2, 0), unsqueeze(A2, 0), unsqueeze(Bm, 0), 1.0, 0.0);
    }
    out = reshape(out2, out_shape);
  } else {
    Shape ba(A.shape().begin(), A.shape().end() - 2), bb(Bm.shape().begin(), Bm.shape().end() - 2);
    for (size_t i = 1; i <= std::min(ba.size(), bb.size()); ++i) {
      int64_t da = ba[ba.size() - i], db = bb[bb.size() - i];
      PROMOE_CHECK(da == db || da == 1 || db == 1, "matmul: batch dims ", shape_str(ba), " and ", shape_str(bb),
                   " cannot be broadcast, ", describe(a), " @ ", describe(b));
    }
    Shape batch = broadcast_shapes(ba, bb, "matmul");
    Shape sa = batch, sb = batch, so = batch;
    sa.insert(sa.end(), {M, K});
    sb.insert(sb.end(), {K, N});
    so.insert(so.end(), {M, N});
    out = Tensor::empty(so, a.dtype(), a.device());
    if (out.numel()) {
      if (K == 0)
        fill_(out, 0.0);
      else
        be(a).batched_matmul(out, expand(A, sa), expand(Bm, sb));
    }
  }
  if (a.dim() == 1) out = squeeze(out, -2);
  if (b.dim() == 1) out = squeeze(out, -1);
  return out;
}

void matmul_into(const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  for (const Tensor* t : {&out, &a, &b}) {
    check_defined(*t, "matmul_into");
    check_same_device(out, *t, "matmul_into");
    check_same_dtype(out, *t, "matmul_into");
  }
  check_floating(a, "matmul_into");
  const int64_t nd = out.dim();
  PROMOE_CHECK(nd >= 2 && a.dim() == nd && b.dim() == nd, "matmul_into: ", describe(out), " = ", describe(a), " @ ",
               describe(b), " needs operands of equal rank >= 2");
  Shape want_a = out.shape(), want_b = out.shape();
  want_a[nd - 1] = a.size(-1);
  want_b[nd - 2] = a.size(-1);
  PROMOE_CHECK(a.shape() == want_a && b.shape() == want_b, "matmul_into: shapes do not chain, ", describe(out), " = ",
               describe(a), " @ ", describe(b));
  if (!out.numel()) return;
  if (a.size(-1) == 0) return fill_(out, 0.0);
  be(a).batched_matmul(out, a, b, alpha);
}

// ---------------------------------------------------------------------------------------------
// Normalisation

Tensor softmax(const Tensor& a, int64_t dim, bool log) {
  check_floating(a, log ? "log_softmax" : "softmax");
  dim = wrap_dim(dim, a.dim(), log ? "log_softmax" : "softmax");
  Tensor x = contiguous(move_to_last(a, dim));
  Tensor out = Tensor::empty(x.shape(), a.dtype(), a.device());
  if (out.numel()) be(a).softmax(out, x, log);
  return move_from_last(out, dim);
}

Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  dim = wrap_dim(dim, out.dim(), "softmax_backward");
  Tensor g = contiguous(move_to_last(grad_out, dim)), y = contiguous(move_to_last(out, dim));
  Tensor gin = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (gin.numel()) be(y).softmax_backward(gin, g, y, log);
  return move_from_last(gin, dim);
}

LayerNormResult layer_norm(const Tensor& a, double eps) {
  check_floating(a, "layer_norm");
  PROMOE_CHECK(a.dim() >= 1, "layer_norm: needs at least one dim, got ", describe(a));
  Tensor x = contiguous(a);
  Shape rows(a.shape().begin(), a.shape().end() - 1);
  LayerNormResult r{Tensor::empty(a.shape(), a.dtype(), a.device()), Tensor::empty(rows, a.dtype(), a.device()),
                    Tensor::empty(rows, a.dtype(), a.device())};
  if (a.numel()) be(a).layer_norm(r.out, r.mean, r.rstd, x, eps);
  return r;
}

Tensor layer_norm_backward(const Tensor& grad_out, const Tensor& a, const Tensor& mean, const Tensor& rstd) {
  Tensor gin = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (a.numel()) be(a).layer_norm_backward(gin, contiguous(grad_out), contiguous(a), mean, rstd);
  return gin;
}

}  // namespace promoe::raw
