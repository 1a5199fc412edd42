// The grouped fused ops: composed references and checked entry points (one kernel call for all
// non-empty groups).
#include "moe/fused_grouped.h"

#include "nn/fused_bias_gelu.h"

namespace promoe::moe::fused {

using raw::check_defined;
using raw::check_floating;
using raw::check_same_device;
using raw::check_same_dtype;
using raw::fill_;

namespace {

// Checks that out (M, N) = a (M, K) @ b (K, N) chains, on out's device and dtype; returns K.
int64_t check_product(const char* op, size_t i, const Tensor& out, const Tensor& a, const Tensor& b,
                      const Tensor& first) {
  for (const Tensor* t : {&out, &a, &b}) {
    check_defined(*t, op);
    check_same_device(first, *t, op);
    check_same_dtype(first, *t, op);
  }
  const int64_t M = out.dim() == 2 ? out.size(0) : -1, N = out.dim() == 2 ? out.size(1) : -1;
  const int64_t K = a.dim() == 2 ? a.size(1) : -1;
  PROMOE_CHECK(M >= 0 && a.shape() == Shape({M, K}) && b.shape() == Shape({K, N}), op, ": product ", i, ": ",
               describe(out), " = ", describe(a), " @ ", describe(b), " does not chain");
  return K;
}

void check_counts(const char* op, size_t n, std::initializer_list<size_t> sizes) {
  for (size_t s : sizes) PROMOE_CHECK(s == n, op, ": ", n, " groups but an argument list of ", s);
}

// A bias (n) for an output (rows, n) of first's dtype and device.
void check_bias(const char* op, size_t i, const Tensor& bias, const Tensor& out, const Tensor& first) {
  check_defined(bias, op);
  check_same_device(first, bias, op);
  check_same_dtype(first, bias, op);
  PROMOE_CHECK(bias.shape() == Shape{out.size(1)}, op, ": group ", i, ": bias ", describe(bias), " does not fit ",
               describe(out));
}

void check_contiguous(const char* op, size_t i, const Tensor& t) {
  PROMOE_CHECK(t.is_contiguous(), op, ": group ", i, ": ", describe(t), " must be contiguous");
}

}  // namespace

void grouped_matmul_reference(const Tensors& outs, const Tensors& as, const Tensors& bs) {
  for (size_t i = 0; i < outs.size(); ++i)
    backend_for(outs[i].device())
        .matmul(raw::unsqueeze(outs[i], 0), raw::unsqueeze(as[i], 0), raw::unsqueeze(bs[i], 0), 1.0, 0.0);
}

void grouped_linear_reference(const Tensors& outs, const Tensors& gelus, const Tensors& as, const Tensors& bs,
                              const Tensors& biases) {
  grouped_matmul_op(outs[0].device(), outs, as, bs);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (gelus.empty())
      raw::add_(outs[i], biases[i]);
    else
      nn::fused::bias_gelu_op(outs[i].device(), gelus[i], outs[i], biases[i]);
  }
}

void grouped_bias_gelu_backward_reference(const Tensors& grad_pres, const Tensors& grad_biases, const Tensors& gs,
                                          const Tensors& pres) {
  for (size_t i = 0; i < pres.size(); ++i)
    nn::fused::bias_gelu_backward_op(pres[i].device(), grad_pres[i], grad_biases[i], gs[i], pres[i]);
}

void grouped_matmul_into(const std::vector<Tensor>& outs, const std::vector<Tensor>& as,
                         const std::vector<Tensor>& bs) {
  const char* op = "grouped_matmul_into";
  check_counts(op, outs.size(), {as.size(), bs.size()});
  std::vector<Tensor> o, a, b;
  for (size_t i = 0; i < outs.size(); ++i) {
    const int64_t K = check_product(op, i, outs[i], as[i], bs[i], outs[0]);
    if (!outs[i].numel()) continue;
    if (K == 0) {
      fill_(outs[i], 0.0);
      continue;
    }
    o.push_back(outs[i]);
    a.push_back(as[i]);
    b.push_back(bs[i]);
  }
  if (o.empty()) return;
  check_floating(o[0], op);
  grouped_matmul_op(o[0].device(), o, a, b);
}

void grouped_linear_into(const std::vector<Tensor>& outs, const std::vector<Tensor>& as, const std::vector<Tensor>& bs,
                         const std::vector<Tensor>& biases, const std::vector<Tensor>& gelus) {
  const char* op = "grouped_linear_into";
  check_counts(op, outs.size(), {as.size(), bs.size(), biases.size()});
  if (!gelus.empty()) check_counts(op, outs.size(), {gelus.size()});
  std::vector<Tensor> o, g, a, b, bias;
  for (size_t i = 0; i < outs.size(); ++i) {
    const int64_t K = check_product(op, i, outs[i], as[i], bs[i], outs[0]);
    check_bias(op, i, biases[i], outs[i], outs[0]);
    check_contiguous(op, i, outs[i]);
    if (!gelus.empty()) {
      check_same_device(outs[0], gelus[i], op);
      PROMOE_CHECK(gelus[i].shape() == outs[i].shape() && gelus[i].dtype() == outs[i].dtype(), op, ": group ", i,
                   ": GELU output ", describe(gelus[i]), " does not match ", describe(outs[i]));
      check_contiguous(op, i, gelus[i]);
    }
    if (!outs[i].numel()) continue;
    PROMOE_CHECK(K > 0, op, ": group ", i, " multiplies over an empty dim");
    o.push_back(outs[i]);
    a.push_back(as[i]);
    b.push_back(bs[i]);
    bias.push_back(raw::contiguous(biases[i]));
    if (!gelus.empty()) g.push_back(gelus[i]);
  }
  if (o.empty()) return;
  check_floating(o[0], op);
  grouped_linear_op(o[0].device(), o, g, a, b, bias);
}

void grouped_bias_gelu_backward_into(const std::vector<Tensor>& grad_pres, const std::vector<Tensor>& grad_biases,
                                     const std::vector<Tensor>& grad_outs, const std::vector<Tensor>& pres) {
  const char* op = "grouped_bias_gelu_backward_into";
  check_counts(op, pres.size(), {grad_pres.size(), grad_biases.size(), grad_outs.size()});
  std::vector<Tensor> gp, gb, go, p;
  for (size_t i = 0; i < pres.size(); ++i) {
    for (const Tensor* t : {&grad_pres[i], &grad_biases[i], &grad_outs[i], &pres[i]}) {
      check_defined(*t, op);
      check_same_device(pres[0], *t, op);
      check_same_dtype(pres[0], *t, op);
    }
    PROMOE_CHECK(pres[i].dim() == 2 && grad_pres[i].shape() == pres[i].shape() &&
                     grad_outs[i].shape() == pres[i].shape() && grad_biases[i].shape() == Shape{pres[i].size(1)},
                 op, ": group ", i, ": gradients ", describe(grad_pres[i]), ", ", describe(grad_biases[i]), " and ",
                 describe(grad_outs[i]), " do not match ", describe(pres[i]));
    check_contiguous(op, i, grad_pres[i]);
    check_contiguous(op, i, grad_biases[i]);
    if (!grad_biases[i].numel()) continue;
    if (!pres[i].numel()) {
      fill_(grad_biases[i], 0.0);
      continue;
    }
    gp.push_back(grad_pres[i]);
    gb.push_back(grad_biases[i]);
    go.push_back(raw::contiguous(grad_outs[i]));
    p.push_back(raw::contiguous(pres[i]));
  }
  if (p.empty()) return;
  check_floating(p[0], op);
  grouped_bias_gelu_backward_op(p[0].device(), gp, gb, go, p);
}

}  // namespace promoe::moe::fused
