// The cosine router's fused op: composed reference and checked entry points.
#include "moe/fused_cosine.h"

#include <limits>

namespace promoe::moe::fused {

namespace {
Tensor row_norms(const Tensor& x) { return raw::unary(UnaryOp::Sqrt, raw::sum(raw::mul(x, x), {1})); }  // (T)

void check_cosine(const char* op, const Tensor& x, const Tensor& q) {
  raw::check_floating(x, op);
  raw::check_same_device(x, q, op);
  raw::check_same_dtype(x, q, op);
  PROMOE_CHECK(x.dim() == 2 && q.dim() == 2 && q.size(1) == x.size(1), op, ": ", describe(x), " and ", describe(q),
               " are not (T, D) and (E, D)");
}
}  // namespace

void cosine_scores_reference(const Tensor& z, const Tensor& rnorm, const Tensor& x, const Tensor& q, double eps) {
  const Tensor norm = row_norms(x);
  raw::copy_(rnorm, raw::unary(UnaryOp::Reciprocal,
                               raw::unary(UnaryOp::Clamp, norm, eps, std::numeric_limits<double>::infinity())));
  raw::copy_(z, raw::mul(raw::matmul(x, raw::transpose(q, 0, 1)), raw::unsqueeze(rnorm, 1)));
}

void cosine_scores_backward_reference(const Tensor& gx, const Tensor& gz_scaled, const Tensor& gz, const Tensor& z,
                                      const Tensor& x, const Tensor& q, const Tensor& rnorm, double eps) {
  const Tensor r = raw::unsqueeze(rnorm, 1);  // (T, 1)
  raw::copy_(gz_scaled, raw::mul(gz, r));
  // d rnorm / d x = -x rnorm^3 where |x| > eps, 0 where the norm is clamped.
  const Tensor norm = raw::unsqueeze(row_norms(x), 1);
  const Tensor unclamped = raw::binary(BinaryOp::Gt, norm, raw::scalar(eps, norm.dtype(), norm.device()));
  const Tensor c = raw::mul(raw::mul(raw::sum(raw::mul(gz, z), {1}, true), raw::mul(r, r)), unclamped);  // (T, 1)
  raw::copy_(gx, raw::sub(raw::matmul(gz_scaled, q), raw::mul(x, c)));
}

CosineScores cosine_scores(const Tensor& x, const Tensor& q, double eps) {
  check_cosine("cosine_scores", x, q);
  const int64_t T = x.size(0), E = q.size(0);
  CosineScores r{Tensor::empty({T, E}, x.dtype(), x.device()), Tensor::empty({T}, x.dtype(), x.device())};
  if (T == 0) return r;
  if (E == 0 || x.size(1) == 0) {  // no prototypes, or no features: all norms clamped
    raw::fill_(r.z, 0.0);
    raw::fill_(r.rnorm, 1.0 / eps);
    return r;
  }
  cosine_scores_op(x.device(), r.z, r.rnorm, raw::contiguous(x), raw::contiguous(q), eps);
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
    raw::fill_(g.x, 0.0);
    raw::fill_(g.gz_scaled, 0.0);
    return g;
  }
  cosine_scores_backward_op(x.device(), g.x, g.gz_scaled, raw::contiguous(gz), raw::contiguous(z), raw::contiguous(x),
                            raw::contiguous(q), raw::contiguous(rnorm), eps);
  return g;
}

}  // namespace promoe::moe::fused
