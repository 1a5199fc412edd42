// The attention fused op: composed reference and checked entry points.
#include "nn/fused_attention.h"

namespace promoe::nn::fused {

namespace {
// P = softmax(scale q k^T) rebuilt from the rows' log-sum-exp: exp(scale q k^T - lse).
Tensor attention_probs(const Tensor& q, const Tensor& k, const Tensor& lse, double scale) {
  Tensor scores = Tensor::empty({q.size(0), q.size(1), q.size(2), k.size(2)}, q.dtype(), q.device());
  raw::matmul_into(scores, q, raw::transpose(k, -1, -2), scale);
  return raw::unary(UnaryOp::Exp, raw::sub(scores, raw::unsqueeze(lse, -1)));
}

// A (B, H, N, hd) head view whose rows have unit stride (else a contiguous copy when `copy_ok`).
Tensor head_view(const Tensor& t, const Shape& shape, const char* op, const char* what, bool copy_ok) {
  PROMOE_CHECK(t.shape() == shape, op, ": ", what, " ", describe(t), " is not ", shape_str(shape));
  if (t.stride(3) == 1 || shape[3] == 1) return t;
  PROMOE_CHECK(copy_ok, op, ": ", what, " ", describe(t), " needs rows of unit stride");
  return raw::contiguous(t);
}
}  // namespace

void attention_reference(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         double scale) {
  Tensor scores = Tensor::empty({q.size(0), q.size(1), q.size(2), k.size(2)}, q.dtype(), q.device());
  raw::matmul_into(scores, q, raw::transpose(k, -1, -2), scale);
  Tensor log_p = raw::softmax(scores, -1, true);  // scores - lse
  raw::copy_(lse, raw::sub(raw::select(scores, -1, 0), raw::select(log_p, -1, 0)));
  raw::matmul_into(out, raw::unary(UnaryOp::Exp, log_p), v);
}

void attention_backward_reference(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go,
                                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, double scale) {
  Tensor p = attention_probs(q, k, lse, scale);  // (B, H, N, N)
  Tensor gp = raw::matmul(go, raw::transpose(v, -1, -2));
  Tensor gs = raw::softmax_backward(gp, p, -1, false);  // d/d(scaled scores)
  raw::matmul_into(gq, gs, k, scale);
  raw::matmul_into(gk, raw::transpose(gs, -1, -2), q, scale);
  raw::matmul_into(gv, raw::transpose(p, -1, -2), go);
}

Tensor attention_into(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  raw::check_floating(q, "attention");
  PROMOE_CHECK(q.dim() == 4, "attention: q must be (B, H, N, hd), got ", describe(q));
  const Shape s = q.shape();
  for (const Tensor* t : {&k, &v, &out}) {
    raw::check_same_device(q, *t, "attention");
    raw::check_same_dtype(q, *t, "attention");
  }
  Tensor Q = head_view(q, s, "attention", "q", true), K = head_view(k, s, "attention", "k", true),
         V = head_view(v, s, "attention", "v", true), O = head_view(out, s, "attention", "out", false);
  Tensor lse = Tensor::empty({s[0], s[1], s[2]}, q.dtype(), q.device());
  if (q.numel()) attention_op(q.device(), O, lse, Q, K, V, scale);
  return lse;
}

void attention_backward_into(const Tensor& gq, const Tensor& gk, const Tensor& gv, const Tensor& go, const Tensor& q,
                             const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, double scale) {
  const Shape s = q.shape();
  const char* op = "attention_backward";
  Tensor GO = head_view(go, s, op, "go", true), Q = head_view(q, s, op, "q", true), K = head_view(k, s, op, "k", true),
         V = head_view(v, s, op, "v", true), O = head_view(out, s, op, "out", true);
  Tensor GQ = head_view(gq, s, op, "gq", false), GK = head_view(gk, s, op, "gk", false),
         GV = head_view(gv, s, op, "gv", false);
  PROMOE_CHECK(lse.shape() == Shape({s[0], s[1], s[2]}) && lse.is_contiguous(), op, ": log-sum-exp ", describe(lse),
               " does not match q ", describe(q));
  if (q.numel()) attention_backward_op(q.device(), GQ, GK, GV, GO, Q, K, V, O, lse, scale);
}

}  // namespace promoe::nn::fused
