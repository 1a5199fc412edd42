// Raw fused ops (adaLN, bias + GELU): argument checks, contiguous operands and outputs, dispatch
// to the backend.
#include "tensor/ops.h"
#include "tensor/ops_util.h"

namespace promoe::raw {

using detail::be;

namespace {
// x (B, N, D) and per-image vectors (B, D) of x's dtype and device.
void check_adaln(const char* op, const Tensor& x, std::initializer_list<Tensor> per_image) {
  detail::check_floating(x, op);
  PROMOE_CHECK(x.dim() == 3, op, ": x must be (B, N, D), got ", describe(x));
  for (const Tensor& v : per_image) {
    check_same_device(x, v, op);
    detail::check_same_dtype(x, v, op);
    PROMOE_CHECK(v.shape() == Shape({x.size(0), x.size(2)}), op, ": ", describe(v), " is not (B, D) for x ",
                 describe(x));
  }
}
}  // namespace

LayerNormModulateResult layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps) {
  check_adaln("layer_norm_modulate", x, {shift, scale});
  const Shape rows{x.size(0), x.size(1)};
  LayerNormModulateResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(rows, x.dtype(), x.device()),
                            Tensor::empty(rows, x.dtype(), x.device())};
  if (x.numel())
    be(x).layer_norm_modulate(r.out, r.mean, r.rstd, contiguous(x), contiguous(shift), contiguous(scale), eps);
  return r;
}

LayerNormModulateGrads layer_norm_modulate_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean,
                                                    const Tensor& rstd, const Tensor& scale) {
  check_adaln("layer_norm_modulate_backward", x, {scale});
  PROMOE_CHECK(grad_out.shape() == x.shape(), "layer_norm_modulate_backward: gradient ", describe(grad_out),
               " does not match x ", describe(x));
  const Shape vec{x.size(0), x.size(2)};
  LayerNormModulateGrads g{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(vec, x.dtype(), x.device()),
                           Tensor::empty(vec, x.dtype(), x.device())};
  if (x.numel())
    be(x).layer_norm_modulate_backward(g.x, g.shift, g.scale, contiguous(grad_out), contiguous(x), contiguous(mean),
                                       contiguous(rstd), contiguous(scale));
  return g;
}

Tensor gated_add(const Tensor& x, const Tensor& gate, const Tensor& y) {
  check_adaln("gated_add", x, {gate});
  check_same_device(x, y, "gated_add");
  detail::check_same_dtype(x, y, "gated_add");
  PROMOE_CHECK(y.shape() == x.shape(), "gated_add: ", describe(y), " does not match x ", describe(x));
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel()) be(x).gated_add(out, contiguous(x), contiguous(gate), contiguous(y));
  return out;
}

GatedAddGrads gated_add_backward(const Tensor& grad_out, const Tensor& y, const Tensor& gate) {
  check_adaln("gated_add_backward", y, {gate});
  PROMOE_CHECK(grad_out.shape() == y.shape(), "gated_add_backward: gradient ", describe(grad_out), " does not match ",
               describe(y));
  GatedAddGrads g{Tensor::empty(y.shape(), y.dtype(), y.device()), Tensor::empty(gate.shape(), y.dtype(), y.device())};
  if (y.numel()) be(y).gated_add_backward(g.y, g.gate, contiguous(grad_out), contiguous(y), contiguous(gate));
  return g;
}

namespace {
// A (B, H, N, hd) head view whose rows have unit stride (else a contiguous copy when `copy_ok`).
Tensor head_view(const Tensor& t, const Shape& shape, const char* op, const char* what, bool copy_ok) {
  PROMOE_CHECK(t.shape() == shape, op, ": ", what, " ", describe(t), " is not ", shape_str(shape));
  if (t.stride(3) == 1 || shape[3] == 1) return t;
  PROMOE_CHECK(copy_ok, op, ": ", what, " ", describe(t), " needs rows of unit stride");
  return contiguous(t);
}
}  // namespace

Tensor attention_into(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  detail::check_floating(q, "attention");
  PROMOE_CHECK(q.dim() == 4, "attention: q must be (B, H, N, hd), got ", describe(q));
  const Shape s = q.shape();
  for (const Tensor* t : {&k, &v, &out}) {
    check_same_device(q, *t, "attention");
    detail::check_same_dtype(q, *t, "attention");
  }
  Tensor Q = head_view(q, s, "attention", "q", true), K = head_view(k, s, "attention", "k", true),
         V = head_view(v, s, "attention", "v", true), O = head_view(out, s, "attention", "out", false);
  Tensor lse = Tensor::empty({s[0], s[1], s[2]}, q.dtype(), q.device());
  if (q.numel()) be(q).attention(O, lse, Q, K, V, scale);
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
  if (q.numel()) be(q).attention_backward(GQ, GK, GV, GO, Q, K, V, O, lse, scale);
}

double sum_of_squares(const std::vector<Tensor>& ts) {
  std::vector<Tensor> dense;
  for (const Tensor& t : ts) {
    detail::check_floating(t, "sum_of_squares");
    check_same_device(ts[0], t, "sum_of_squares");
    if (t.numel()) dense.push_back(contiguous(t));
  }
  return dense.empty() ? 0.0 : be(dense[0]).sum_of_squares(dense);
}

namespace {
void check_cosine(const char* op, const Tensor& x, const Tensor& q) {
  detail::check_floating(x, op);
  check_same_device(x, q, op);
  detail::check_same_dtype(x, q, op);
  PROMOE_CHECK(x.dim() == 2 && q.dim() == 2 && q.size(1) == x.size(1), op, ": ", describe(x), " and ", describe(q),
               " are not (T, D) and (E, D)");
}
}  // namespace

CosineScores cosine_scores(const Tensor& x, const Tensor& q, double eps) {
  check_cosine("cosine_scores", x, q);
  const int64_t T = x.size(0), E = q.size(0);
  CosineScores r{Tensor::empty({T, E}, x.dtype(), x.device()), Tensor::empty({T}, x.dtype(), x.device())};
  if (T == 0) return r;
  if (E == 0 || x.size(1) == 0) {  // no prototypes, or no features: all norms clamped
    fill_(r.z, 0.0);
    fill_(r.rnorm, 1.0 / eps);
    return r;
  }
  be(x).cosine_scores(r.z, r.rnorm, contiguous(x), contiguous(q), eps);
  return r;
}

CosineScoresGrads cosine_scores_backward(const Tensor& gz, const Tensor& z, const Tensor& x, const Tensor& q,
                                         const Tensor& rnorm, double eps) {
  check_cosine("cosine_scores_backward", x, q);
  const int64_t T = x.size(0), E = q.size(0);
  PROMOE_CHECK(gz.shape() == Shape({T, E}) && z.shape() == gz.shape() && rnorm.shape() == Shape{T},
               "cosine_scores_backward: gradient ", describe(gz), ", scores ", describe(z), " and norms ",
               describe(rnorm), " do not fit ", describe(x), " and ", describe(q));
  CosineScoresGrads g{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty({T, E}, x.dtype(), x.device())};
  if (T == 0) return g;
  if (E == 0 || x.size(1) == 0) {
    fill_(g.x, 0.0);
    fill_(g.gz_scaled, 0.0);
    return g;
  }
  be(x).cosine_scores_backward(g.x, g.gz_scaled, contiguous(gz), contiguous(z), contiguous(x), contiguous(q),
                               contiguous(rnorm), eps);
  return g;
}

void ema_update_(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay) {
  PROMOE_CHECK(shadows.size() == params.size(), "ema_update_: ", shadows.size(), " shadows for ", params.size(),
               " parameters");
  std::vector<Tensor> s, p;
  for (size_t i = 0; i < shadows.size(); ++i) {
    detail::check_floating(shadows[i], "ema_update_");
    check_same_device(shadows[0], shadows[i], "ema_update_");
    check_same_device(shadows[i], params[i], "ema_update_");
    detail::check_same_dtype(shadows[i], params[i], "ema_update_");
    PROMOE_CHECK(shadows[i].shape() == params[i].shape() && shadows[i].is_contiguous(), "ema_update_: shadow ",
                 describe(shadows[i]), " must be contiguous and match ", describe(params[i]));
    if (!shadows[i].numel()) continue;
    s.push_back(shadows[i]);
    p.push_back(contiguous(params[i]));
  }
  if (!s.empty()) be(s[0]).ema_group(s, p, decay);
}

Tensor bias_gelu_(const Tensor& pre, const Tensor& bias) {
  detail::check_floating(pre, "bias_gelu");
  check_same_device(pre, bias, "bias_gelu");
  detail::check_same_dtype(pre, bias, "bias_gelu");
  PROMOE_CHECK(pre.dim() == 2 && pre.is_contiguous() && bias.shape() == Shape{pre.size(1)},
               "bias_gelu: ", describe(pre), " must be contiguous (rows, n) with a bias (n), got bias ",
               describe(bias));
  Tensor out = Tensor::empty(pre.shape(), pre.dtype(), pre.device());
  if (pre.numel()) be(pre).bias_gelu(out, pre, contiguous(bias));
  return out;
}

BiasGeluGrads bias_gelu_backward(const Tensor& grad_out, const Tensor& pre) {
  PROMOE_CHECK(pre.dim() == 2 && grad_out.shape() == pre.shape(), "bias_gelu_backward: gradient ", describe(grad_out),
               " does not match ", describe(pre));
  BiasGeluGrads g{Tensor::empty(pre.shape(), pre.dtype(), pre.device()),
                  Tensor::empty({pre.size(1)}, pre.dtype(), pre.device())};
  if (pre.size(1) == 0) return g;
  if (pre.size(0) == 0)
    fill_(g.bias, 0.0);
  else
    be(pre).bias_gelu_backward(g.pre, g.bias, contiguous(grad_out), contiguous(pre));
  return g;
}

}  // namespace promoe::raw
