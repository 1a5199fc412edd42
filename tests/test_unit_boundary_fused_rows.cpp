// The boundary table's rows of the fused ops (tensor/fused.h), each run through its composed
// reference or a device's fast kernel (boundary_table.h).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "boundary_table.h"
#include "fused_ops.h"
#include "tensor/fused.h"

namespace promoe::test::boundary {
namespace {

// Runs fused op `op` as `impl` runs fused ops: its fast kernel on impl.device, or its reference.
template <typename Op, typename... Args>
void call(const Op& op, const Impl& impl, Args&&... args) {
  if (impl.fast)
    op(impl.device, std::forward<Args>(args)...);
  else
    op.reference()(std::forward<Args>(args)...);
}

// `n` cases of random shapes of `dims` sizes in [lo, hi], each labelled by its shape.
std::vector<Case> sized(std::mt19937& rng, int n, int dims, int64_t lo, int64_t hi,
                        const std::function<Case(const Shape&)>& one) {
  std::vector<Case> cs;
  for (int i = 0; i < n; ++i) {
    const Shape s = random_shape(rng, dims, lo, hi);
    Case c = one(s);
    c.what = shape_str(s);
    cs.push_back(c);
  }
  return cs;
}

}  // namespace

void add_fused_rows(std::vector<Row>& rows) {
  using namespace nn::fused;
  using namespace moe::fused;
  rows.push_back(
      {"nn.layer_norm_modulate(_backward)",
       true,
       kFloat,
       [](Generator& gen, std::mt19937& rng, DType dt) {
         return sized(rng, 3, 3, 1, 40, [&](const Shape& s) {
           const Shape vec{s[0], s[2]};
           return Case{"", {dense(gen, s, dt, 2.0), dense(gen, vec, dt), dense(gen, vec, dt), dense(gen, s, dt)}};
         });
       },
       [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
         const Tensor &x = in[0], &shift = in[1], &scale = in[2], &g = in[3];
         const Shape rows{x.size(0), x.size(1)};
         Tensor out = empty_like(x), mean = empty_on(rows, x.dtype(), impl.device),
                rstd = empty_on(rows, x.dtype(), impl.device);
         call(layer_norm_modulate_op, impl, out, mean, rstd, x, shift, scale, 1e-6);
         Tensor gx = empty_like(x), gsh = empty_like(shift), gsc = empty_like(scale);
         call(layer_norm_modulate_backward_op, impl, gx, gsh, gsc, g, x, mean, rstd, scale);
         return Outputs{out, mean, rstd, gx, gsh, gsc};
       },
       {"nn.layer_norm_modulate", "nn.layer_norm_modulate_backward"}});
  rows.push_back(
      {"nn.gated_add(_backward)",
       true,
       kFloat,
       [](Generator& gen, std::mt19937& rng, DType dt) {
         return sized(rng, 3, 3, 1, 40, [&](const Shape& s) {
           return Case{"", {dense(gen, s, dt), dense(gen, {s[0], s[2]}, dt), dense(gen, s, dt), dense(gen, s, dt)}};
         });
       },
       [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
         const Tensor &x = in[0], &gate = in[1], &y = in[2], &g = in[3];
         Tensor out = empty_like(x), gy = empty_like(y), gg = empty_like(gate);
         call(gated_add_op, impl, out, x, gate, y);
         call(gated_add_backward_op, impl, gy, gg, g, y, gate);
         return Outputs{out, gy, gg};
       },
       {"nn.gated_add", "nn.gated_add_backward"}});
  rows.push_back({"nn.bias_gelu(_backward)",
                  true,
                  kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    return sized(rng, 3, 2, 1, 80, [&](const Shape& s) {
                      return Case{"", {dense(gen, s, dt, 2.0), dense(gen, {s[1]}, dt), dense(gen, s, dt)}};
                    });
                  },
                  [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
                    Tensor pre = raw::clone(in[0]), out = empty_like(pre), gp = empty_like(pre), gb = empty_like(in[1]);
                    call(bias_gelu_op, impl, out, pre, in[1]);
                    call(bias_gelu_backward_op, impl, gp, gb, in[2], pre);
                    return Outputs{pre, out, gp, gb};
                  },
                  {"nn.bias_gelu", "nn.bias_gelu_backward"}});
  rows.push_back(
      {"nn.attention(_backward)",
       true,
       kFloat,
       [](Generator& gen, std::mt19937& rng, DType dt) {
         std::vector<Case> cs;
         for (int64_t hd : {8, 16, 64}) {
           const Shape s{int64_t(rng() % 2 + 1), int64_t(rng() % 3 + 1), int64_t(rng() % 40 + 1), hd};
           // q, k, v as head views of one token-major (B, N, 3, H, hd) buffer, as the model has them
           Input qkv = dense(gen, {s[0], s[2], 3, s[1], hd}, dt);
           std::vector<Input> in;
           for (int64_t j = 0; j < 3; ++j)
             in.push_back({qkv.base, [j](const Tensor& t) {
                             return raw::permute(raw::select(t, 2, j), {0, 2, 1, 3});
                           }});
           in.push_back(dense(gen, s, dt));
           cs.push_back({shape_str(s), in});
         }
         return cs;
       },
       [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
         const Tensor &q = in[0], &k = in[1], &v = in[2], &go = in[3];
         const double scale = 1.0 / std::sqrt(double(q.size(3)));
         Tensor out = empty_like(go), lse = empty_on({q.size(0), q.size(1), q.size(2)}, q.dtype(), impl.device);
         call(attention_op, impl, out, lse, q, k, v, scale);
         Tensor gq = empty_like(go), gk = empty_like(go), gv = empty_like(go);
         call(attention_backward_op, impl, gq, gk, gv, go, q, k, v, out, lse, scale);
         return Outputs{out, lse, gq, gk, gv};
       },
       {"nn.attention", "nn.attention_backward"}});
  rows.push_back({"nn.conv2d(_backward)",
                  true,
                  kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int rep = 0; rep < 4; ++rep) {
                      // B, C, H, W, O, then a 1x1 or 3x3 (or 2x3) kernel, stride 1 or 2, padding 0 or 1
                      const Shape s = random_shape(rng, 5, 1, 6);
                      const int64_t kh = rep == 3  ? 2
                                         : rep % 2 ? 3
                                                   : 1,
                                    kw = rep == 3 ? 3 : kh, stride = int64_t(rng() % 2 + 1),
                                    pad = kh > 1 ? int64_t(rng() % 2) : 0;
                      const int64_t H = s[2] + kh, W = s[3] + kw;
                      const int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
                      Case c{"",
                             {dense(gen, {s[0], s[1], H, W}, dt), dense(gen, {s[4], s[1], kh, kw}, dt),
                              dense(gen, {s[4]}, dt), dense(gen, {s[0], s[4], Ho, Wo}, dt)}};
                      c.what = shape_str({s[0], s[1], H, W}) + " k" + std::to_string(kh) + "x" + std::to_string(kw) +
                               " s" + std::to_string(stride) + " p" + std::to_string(pad);
                      c.k = stride;
                      c.p0 = double(pad);
                      c.p1 = rep == 2 ? 0.0 : 1.0;  // with a bias
                      cs.push_back(c);
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    const Tensor &x = in[0], &w = in[1], &g = in[3];
                    const Tensor bias = c.p1 > 0 ? in[2] : Tensor();
                    const int64_t stride = c.k, pad = int64_t(c.p0);
                    Tensor out = empty_like(g), gx = empty_like(x), gw = empty_like(w), gb = empty_like(in[2]);
                    call(conv2d_op, impl, out, x, w, bias, stride, pad);
                    call(conv2d_backward_op, impl, gx, gw, gb, g, x, w, stride, pad);
                    Tensor gw_only = empty_like(w);  // the weight gradient alone
                    call(conv2d_backward_op, impl, Tensor(), gw_only, Tensor(), g, x, w, stride, pad);
                    return Outputs{out, gx, gw, gb, gw_only};
                  },
                  {"nn.conv2d", "nn.conv2d_backward"}});
  rows.push_back({"nn.group_norm(_backward)",
                  true,
                  kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    return sized(rng, 3, 4, 1, 5, [&](const Shape& s) {  // B, groups, channels per group, pixels / 4
                      const int64_t C = s[1] * s[2], S = 4 * s[3] + int64_t(rng() % 4);
                      Case c{"",
                             {dense(gen, {s[0], C, S}, dt, 2.0), dense(gen, {C}, dt), dense(gen, {C}, dt),
                              dense(gen, {s[0], C, S}, dt)}};
                      c.k = s[1];
                      return c;
                    });
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    const Tensor &x = in[0], &w = in[1], &b = in[2], &g = in[3];
                    const Shape stats{x.size(0), c.k};
                    Tensor out = empty_like(x), mean = empty_on(stats, x.dtype(), impl.device),
                           rstd = empty_on(stats, x.dtype(), impl.device);
                    call(group_norm_op, impl, out, mean, rstd, x, w, b, c.k, 1e-6);
                    Tensor gx = empty_like(x), gw = empty_like(w), gb = empty_like(b);
                    call(group_norm_backward_op, impl, gx, gw, gb, g, x, mean, rstd, w, c.k);
                    return Outputs{out, mean, rstd, gx, gw, gb};
                  },
                  {"nn.group_norm", "nn.group_norm_backward"}});
  rows.push_back(
      {"moe.cosine_scores(_backward)",
       true,
       kFloat,
       [](Generator& gen, std::mt19937& rng, DType dt) {
         return sized(rng, 3, 3, 1, 40, [&](const Shape& s) {  // T, D, E
           return Case{"", {dense(gen, {s[0], s[1]}, dt), dense(gen, {s[2], s[1]}, dt), dense(gen, {s[0], s[2]}, dt)}};
         });
       },
       [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
         const Tensor &x = in[0], &q = in[1], &gz = in[2];
         Tensor z = empty_like(gz), r = empty_on({x.size(0)}, x.dtype(), impl.device);
         call(cosine_scores_op, impl, z, r, x, q, 1e-6);
         Tensor gx = empty_like(x), gs = empty_like(gz);
         call(cosine_scores_backward_op, impl, gx, gs, gz, z, x, q, r, 1e-6);
         return Outputs{z, r, gx, gs};
       },
       {"moe.cosine_scores", "moe.cosine_scores_backward"}});
  rows.push_back({"moe.grouped_matmul, grouped_linear, grouped_bias_gelu_backward",
                  true,
                  kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int rep = 0; rep < 2; ++rep) {
                      Case c{"groups", {}};
                      const int64_t groups = int64_t(rng() % 4 + 1), K = int64_t(rng() % 20 + 1),
                                    N = int64_t(rng() % 20 + 1);
                      for (int64_t i = 0; i < groups; ++i) {
                        const int64_t rows = int64_t(rng() % 30 + 1);
                        // a (rows, K) row-major, b (K, N) as a transposed (N, K) weight, bias (N), grad (rows, N)
                        c.in.push_back(dense(gen, {rows, K}, dt));
                        c.in.push_back({random_tensor(gen, {N, K}, dt, 1.0),
                                        [](const Tensor& t) { return raw::transpose(t, 0, 1); }});
                        c.in.push_back(dense(gen, {N}, dt));
                        c.in.push_back(dense(gen, {rows, N}, dt));
                      }
                      cs.push_back(c);
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
                    std::vector<Tensor> a, b, bias, g, mm, pre, gelu, lin, gp, gb;
                    for (size_t i = 0; i < in.size(); i += 4) {
                      a.push_back(in[i]);
                      b.push_back(in[i + 1]);
                      bias.push_back(in[i + 2]);
                      g.push_back(in[i + 3]);
                      for (auto* list : {&mm, &pre, &gelu, &lin, &gp}) list->push_back(empty_like(in[i + 3]));
                      gb.push_back(empty_like(in[i + 2]));
                    }
                    call(grouped_matmul_op, impl, mm, a, b);
                    call(grouped_linear_op, impl, pre, gelu, a, b, bias);
                    call(grouped_linear_op, impl, lin, std::vector<Tensor>{}, a, b, bias);
                    call(grouped_bias_gelu_backward_op, impl, gp, gb, g, pre);
                    Outputs out;
                    for (auto* list : {&mm, &pre, &gelu, &lin, &gp, &gb})
                      out.insert(out.end(), list->begin(), list->end());
                    return out;
                  },
                  {"moe.grouped_matmul", "moe.grouped_linear", "moe.grouped_bias_gelu_backward"}});
  rows.push_back({"optim.adamw, adamw_list, ema_list, sum_of_squares",
                  true,
                  kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    Case c{"list", {}};
                    const int64_t n = int64_t(rng() % 5 + 1);
                    for (int64_t i = 0; i < n; ++i) {
                      const Shape s = random_shape(rng, 2, 1, 200);
                      Tensor v = raw::unary(UnaryOp::Abs, random_tensor(gen, s, dt, 1.0));  // second moments are >= 0
                      for (const Tensor& t : {random_tensor(gen, s, dt, 1.0), random_tensor(gen, s, dt, 1.0),
                                              random_tensor(gen, s, dt, 0.1), v})
                        c.in.push_back({t});
                    }
                    c.k = int64_t(rng() % 20 + 1);
                    return std::vector<Case>{c};
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    std::vector<Tensor> p, g, m, v, p1, m1, v1;
                    for (size_t i = 0; i < in.size(); i += 4) {
                      p.push_back(raw::clone(in[i]));
                      g.push_back(in[i + 1]);
                      m.push_back(raw::clone(in[i + 2]));
                      v.push_back(raw::clone(in[i + 3]));
                      p1.push_back(raw::clone(in[i]));
                      m1.push_back(raw::clone(in[i + 2]));
                      v1.push_back(raw::clone(in[i + 3]));
                    }
                    call(adamw_list_op, impl, p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.05, c.k, 0.7);
                    call(adamw_op, impl, p1[0], g[0], m1[0], v1[0], 1e-2, 0.9, 0.999, 1e-8, 0.05, c.k, 0.7);
                    std::vector<Tensor> shadows;
                    for (const Tensor& t : g) shadows.push_back(raw::clone(raw::mul_scalar(t, -1.0)));
                    call(ema_list_op, impl, shadows, p, 0.9);
                    const double sq = impl.fast ? sum_of_squares_op(impl.device, g) : sum_of_squares_op.reference()(g);
                    Outputs out{p1[0], m1[0], v1[0], raw::scalar(sq, DType::F64)};
                    for (auto* list : {&p, &m, &v, &shadows}) out.insert(out.end(), list->begin(), list->end());
                    return out;
                  },
                  {"optim.adamw", "optim.adamw_list", "optim.ema_list", "optim.sum_of_squares"}});
}

}  // namespace promoe::test::boundary
