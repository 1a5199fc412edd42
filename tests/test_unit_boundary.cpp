// The backend boundary, table-driven in the manner of ggml's tests/test-backend-ops.cpp: every
// primitive of tensor/backend.h, the job runners (tensor/jobs.h) and every fused op (tensor/fused.h), over random
// shapes, strided and broadcast views and dtypes, runs through every implementation there is and is compared with the
// first:
//   primitive:  cpu backend (the readable reference), cuda backend
//   fused op:   composed reference, cpu fast kernel, cuda (its fast kernel, else the reference
//               composed from cuda primitives)
// CUDA runs where a GPU is present and is skipped, with a message, otherwise. A new op is covered
// by one row of rows(); a new backend by one entry of implementations().
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "fused_ops.h"
#include "random_views.h"
#include "tensor/backend.h"
#include "tensor/fused.h"
#include "tensor/jobs.h"

namespace promoe::test {
namespace {

// One implementation of the boundary: a device and whether fused ops take its fast kernel (false:
// the composed reference, run on that device's primitives).
struct Impl {
  std::string name;
  Device device;
  bool fast;
};

std::vector<Impl> implementations(bool fused) {
  std::vector<Impl> impls;
  if (fused) impls.push_back({"reference", Device::cpu(), false});
  impls.push_back({"cpu", Device::cpu(), true});
  if (cuda_available()) impls.push_back({"cuda", Device::cuda(0), true});
  return impls;
}

// An input: a host base tensor and the view taken of it once it is on the implementation's device,
// so every implementation sees the same layout (strides, offsets, stride-0 broadcast dims).
struct Input {
  Tensor base;
  std::function<Tensor(const Tensor&)> view = [](const Tensor& t) { return t; };
  Tensor on(Device d) const { return view(raw::to(base, d)); }
};

Input random_input(Generator& gen, const Shape& shape, DType dt, ViewKind kind, double scale = 1.0) {
  return {random_tensor(gen, view_base_shape(shape, kind), dt, scale),
          [shape, kind](const Tensor& t) { return apply_view(t, shape, kind); }};
}
Input dense(Generator& gen, const Shape& shape, DType dt, double scale = 1.0) {
  return {random_tensor(gen, shape, dt, scale)};
}
Input positive(Generator& gen, const Shape& shape, DType dt, ViewKind kind) {
  Input in = random_input(gen, shape, dt, kind);
  in.base = raw::add_scalar(raw::unary(UnaryOp::Abs, in.base), 0.25);
  return in;
}
// gemm_operand's layouts (tests/random_views.h) as inputs: kind 0 row-major, 1 column-major, 2 a
// row-major window, 3 a column-major window, 4 column stride 2, 5 batch stride 0.
Input gemm_input(Generator& gen, int64_t bt, int64_t r, int64_t c, int kind, DType dt) {
  switch (kind) {
    case 0:
      return {random_tensor(gen, {bt, r, c}, dt, 1.0)};
    case 1:
      return {random_tensor(gen, {bt, c, r}, dt, 1.0), [](const Tensor& t) { return raw::transpose(t, 1, 2); }};
    case 2:
      return {random_tensor(gen, {bt, r, c + 3}, dt, 1.0), [c](const Tensor& t) { return raw::narrow(t, 2, 1, c); }};
    case 3:
      return {random_tensor(gen, {bt, c + 2, r}, dt, 1.0),
              [c](const Tensor& t) { return raw::narrow(raw::transpose(t, 1, 2), 2, 2, c); }};
    case 4:
      return {random_tensor(gen, {bt, r, 2 * c}, dt, 1.0), [=](const Tensor& t) {
                return Tensor::view_of(t, {bt, r, c}, {r * 2 * c, 2 * c, 2}, 0);
              }};
    default:
      return {random_tensor(gen, {1, r, c}, dt, 1.0), [=](const Tensor& t) { return raw::expand(t, {bt, r, c}); }};
  }
}

Input index_input(Generator& gen, const Shape& shape, int64_t bound) { return {gen.randint(shape, 0, bound)}; }

// What a row draws for one case: its inputs and a label.
struct Case {
  std::string what;
  std::vector<Input> in;
  int64_t k = 0;          // a size parameter of the op (reduced dims, top-k, dim, head count)
  double p0 = 0, p1 = 0;  // scalar parameters
};

using Outputs = std::vector<Tensor>;
struct Row {
  const char* op;
  bool fused;
  std::vector<DType> dtypes;
  // Draws the cases of one dtype.
  std::function<std::vector<Case>(Generator&, std::mt19937&, DType)> cases;
  // Runs one case on one implementation; the inputs are already on impl.device.
  std::function<Outputs(const Impl&, const Case&, const std::vector<Tensor>&)> run;
  std::vector<std::string> covers = {};  // the fused ops (FusedOp names) a fused row runs
};

Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }
Tensor empty_on(const Shape& s, DType dt, Device d) { return Tensor::empty(s, dt, d); }

template <typename Op, typename... Args>
void call(const Op& op, const Impl& impl, Args&&... args) {
  if (impl.fast)
    op(impl.device, std::forward<Args>(args)...);
  else
    op.reference()(std::forward<Args>(args)...);
}

Shape random_shape(std::mt19937& rng, int dims, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> d(lo, hi);
  Shape s(static_cast<size_t>(dims));
  for (int64_t& v : s) v = d(rng);
  return s;
}

double rtol(DType dt) { return dt == DType::F64 ? 1e-9 : dt == DType::F32 ? 2e-4 : 0.0; }
double atol(DType dt) { return dt == DType::F64 ? 1e-10 : dt == DType::F32 ? 2e-5 : 0.0; }

void compare(const Tensor& got, const Tensor& want, DType dt, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape ", shape_str(got.shape()), " vs ",
                  shape_str(want.shape()));
  const std::vector<double> g = raw::to(got, Device::cpu()).to_vector<double>(),
                            w = raw::to(want, Device::cpu()).to_vector<double>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::abs(g[i] - w[i]) <= atol(dt) + rtol(dt) * std::abs(w[i])) && !(std::isnan(g[i]) && std::isnan(w[i]))) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", g.size(), " elements differ, first at ", first, " (",
                first >= 0 ? g[size_t(first)] : 0.0, " vs ", first >= 0 ? w[size_t(first)] : 0.0, ")");
}

const ViewKind kViews[] = {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Narrowed, ViewKind::Broadcast};
const std::vector<DType> kFloat = {DType::F32, DType::F64};

// Cases of an elementwise op over every view kind of a random 3-D shape.
std::vector<Case> per_view(Generator& gen, std::mt19937& rng, DType dt,
                           const std::function<Case(Generator&, const Shape&, ViewKind)>& one) {
  std::vector<Case> cs;
  for (ViewKind kind : kViews) {
    Case c = one(gen, random_shape(rng, 3, 1, 7), kind);
    c.what += std::string(" ") + kind_name(kind);
    cs.push_back(c);
  }
  return cs;
}

// ---------------------------------------------------------------------------------------------
// The primitives.

void add_primitive_rows(std::vector<Row>& rows) {
  rows.push_back({"copy",
                  false,
                  {DType::F64},
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    return per_view(gen, rng, dt, [&](Generator& g, const Shape& s, ViewKind k) {
                      return Case{"", {random_input(g, s, DType::F64, k, 3.0)}};
                    });
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    // from a view of the row's dtype to every dtype
                    Outputs out;
                    for (DType to : {DType::F32, DType::F64, DType::I64, DType::BF16}) {
                      Tensor o = empty_on(in[0].shape(), to, impl.device);
                      backend_for(impl.device).copy(o, in[0]);
                      out.push_back(o);
                    }
                    return out;
                  }});
  rows.push_back({"fill, arange",
                  false,
                  {DType::F64},
                  [](Generator&, std::mt19937& rng, DType) {
                    return std::vector<Case>{Case{"", {}, int64_t(rng() % 50 + 1), -2.5, 0.75}};
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>&) {
                    Backend& be = backend_for(impl.device);
                    Outputs out;
                    for (DType dt : {DType::F32, DType::F64, DType::I64}) {
                      Tensor f = empty_on({c.k, 3}, dt, impl.device), a = empty_on({c.k}, dt, impl.device);
                      be.fill(raw::transpose(f, 0, 1), c.p0);
                      be.arange(a, c.p0, c.p1);
                      out.insert(out.end(), {f, a});
                    }
                    return out;
                  }});
  for (UnaryOp op : OpKinds<UnaryOp>::all)
    rows.push_back({op_kind_name(op), false, kFloat,
                    [op](Generator& gen, std::mt19937& rng, DType dt) {
                      const bool pos = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt ||
                                       op == UnaryOp::PowScalar || op == UnaryOp::Reciprocal;
                      return per_view(gen, rng, dt, [&](Generator& g, const Shape& s, ViewKind k) {
                        Case c{"", {pos ? positive(g, s, dt, k) : random_input(g, s, dt, k, 2.0)}};
                        c.p0 = op == UnaryOp::Clamp ? -0.5 : 1.5;
                        c.p1 = op == UnaryOp::Clamp ? 0.75 : -0.25;
                        return c;
                      });
                    },
                    [op](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                      Tensor o = empty_on(in[0].shape(), in[0].dtype(), impl.device);
                      backend_for(impl.device).unary(op, o, in[0], c.p0, c.p1);
                      return Outputs{o};
                    }});
  for (BinaryOp op : OpKinds<BinaryOp>::all) {
    std::vector<DType> dts = kFloat;
    if (binary_defined_for_i64(op)) dts.push_back(DType::I64);
    rows.push_back({op_kind_name(op), false, dts,
                    [op](Generator& gen, std::mt19937& rng, DType dt) {
                      const bool pos = op == BinaryOp::Pow || op == BinaryOp::Div;
                      return per_view(gen, rng, dt, [&](Generator& g, const Shape& s, ViewKind k) {
                        // b broadcasts along dim 1 (NumPy rules: b is (s0, 1, s2)).
                        Input b = pos ? positive(g, {s[0], 1, s[2]}, dt, k) : random_input(g, {s[0], 1, s[2]}, dt, k);
                        Input a = op == BinaryOp::Pow ? positive(g, s, dt, k) : random_input(g, s, dt, k);
                        b.view = [bv = b.view, s](const Tensor& t) { return raw::expand(bv(t), s); };
                        return Case{"", {a, b}};
                      });
                    },
                    [op](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
                      Tensor o = empty_on(in[0].shape(), in[0].dtype(), impl.device);
                      backend_for(impl.device).binary(op, o, in[0], in[1]);
                      return Outputs{o};
                    }});
  }
  rows.push_back(
      {"where",
       false,
       {DType::F32, DType::F64, DType::I64},
       [](Generator& gen, std::mt19937& rng, DType dt) {
         return per_view(gen, rng, dt, [&](Generator& g, const Shape& s, ViewKind k) {
           return Case{
               "", {random_input(g, s, DType::I64, k), random_input(g, s, dt, k, 3.0), random_input(g, s, dt, k, 3.0)}};
         });
       },
       [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
         Tensor o = empty_on(in[1].shape(), in[1].dtype(), impl.device);
         backend_for(impl.device).where(o, in[0], in[1], in[2]);
         return Outputs{o};
       }});
  for (ReduceOp op : OpKinds<ReduceOp>::all)
    rows.push_back({op_kind_name(op),
                    false,
                    {DType::F32, DType::F64, DType::I64},
                    [op](Generator& gen, std::mt19937& rng, DType dt) {
                      std::vector<Case> cs = per_view(gen, rng, dt, [&](Generator& g, const Shape& s, ViewKind k) {
                        return Case{"", {random_input(g, s, dt, k, 3.0)}, int64_t(rng() % 3 + 1)};
                      });
                      if (dt == DType::I64 && op == ReduceOp::Mean) cs.clear();  // mean is for floats
                      return cs;
                    },
                    [op](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                      Shape kept(in[0].shape().begin(), in[0].shape().end() - c.k);
                      Tensor o = empty_on(kept, in[0].dtype(), impl.device);
                      backend_for(impl.device).reduce(op, o, in[0], c.k);
                      Outputs out{o};
                      // (arg_reduce on float rows only: i64 rows have ties, whose index is unspecified)
                      if ((op == ReduceOp::Max || op == ReduceOp::Min) && in[0].dtype() != DType::I64) {
                        Shape rows(in[0].shape().begin(), in[0].shape().end() - 1);
                        Tensor v = empty_on(rows, in[0].dtype(), impl.device),
                               i = empty_on(rows, DType::I64, impl.device);
                        backend_for(impl.device).arg_reduce(op, v, i, in[0]);
                        out.insert(out.end(), {v, i});
                      }
                      return out;
                    }});
  rows.push_back({"matmul, batched_matmul", false, kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int kind = 0; kind < 6; ++kind) {
                      const Shape s = random_shape(rng, 4, 1, 9);  // Bt, M, K, N
                      Case c{"layout " + std::to_string(kind),
                             {gemm_input(gen, s[0], s[1], s[2], kind, dt),
                              gemm_input(gen, s[0], s[2], s[3], 5 - kind, dt), dense(gen, {s[0], s[1], s[3]}, dt)}};
                      c.p0 = 1.5;
                      c.p1 = kind % 2 ? 0.5 : 0.0;
                      cs.push_back(c);
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    Tensor o = raw::clone(in[2]);
                    backend_for(impl.device).matmul(o, in[0], in[1], c.p0, c.p1);
                    // the same product with a broadcast leading dim, through batched_matmul
                    const Shape& a = in[0].shape();
                    Tensor b4 = raw::expand(raw::unsqueeze(in[1], 0), {2, a[0], in[1].size(1), in[1].size(2)});
                    Tensor a4 = raw::expand(raw::unsqueeze(in[0], 0), {2, a[0], a[1], a[2]});
                    Tensor o4 = empty_on({2, a[0], a[1], in[1].size(2)}, in[0].dtype(), impl.device);
                    backend_for(impl.device).batched_matmul(o4, a4, b4, c.p0);
                    return Outputs{o, o4};
                  }});
  rows.push_back({"softmax, layer_norm and backwards", false, kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int i = 0; i < 3; ++i) {
                      const Shape s = random_shape(rng, 2, 1, 40);
                      cs.push_back({shape_str(s), {dense(gen, s, dt, 2.0), dense(gen, s, dt)}});
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
                    Backend& be = backend_for(impl.device);
                    const Tensor &x = in[0], &g = in[1];
                    const Shape rows{x.size(0)};
                    Outputs out;
                    for (bool log : {false, true}) {
                      Tensor y = empty_like(x), gi = empty_like(x);
                      be.softmax(y, x, log);
                      be.softmax_backward(gi, g, y, log);
                      out.insert(out.end(), {y, gi});
                    }
                    Tensor y = empty_like(x), gi = empty_like(x), mean = empty_on(rows, x.dtype(), impl.device),
                           rstd = empty_on(rows, x.dtype(), impl.device);
                    be.layer_norm(y, mean, rstd, x, 1e-5);
                    be.layer_norm_backward(gi, g, x, mean, rstd);
                    out.insert(out.end(), {y, mean, rstd, gi});
                    return out;
                  }});
  rows.push_back({"index_select, index_add, gather, scatter_add",
                  false,
                  {DType::F32, DType::F64, DType::I64},
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int64_t dim = 0; dim < 3; ++dim) {
                      const Shape s = random_shape(rng, 3, 1, 6);
                      Shape picked = s;
                      picked[size_t(dim)] = int64_t(rng() % 7 + 1);
                      cs.push_back(
                          {"dim " + std::to_string(dim),
                           {random_input(gen, s, dt, ViewKind::Permuted), index_input(gen, {picked[dim]}, s[dim]),
                            dense(gen, picked, dt), index_input(gen, picked, s[dim])},
                           dim});
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    Backend& be = backend_for(impl.device);
                    const Tensor &a = in[0], &idx = in[1], &src = in[2], &gidx = in[3];
                    Tensor sel = empty_on(src.shape(), a.dtype(), impl.device);
                    be.index_select(sel, a, c.k, idx);
                    Tensor add = raw::clone(a), scat = raw::clone(a);
                    be.index_add(add, c.k, idx, src);
                    Tensor gat = empty_on(gidx.shape(), a.dtype(), impl.device);
                    be.gather(gat, a, c.k, gidx);
                    be.scatter_add(scat, c.k, gidx, src);
                    return Outputs{sel, add, gat, scat};
                  }});
  rows.push_back({"topk, sort", false, kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int i = 0; i < 3; ++i) {
                      const Shape s = random_shape(rng, 2, 1, 30);
                      // distinct values (no ties to break): a random permutation of 0..n-1 per row
                      Tensor perm = raw::sort(random_tensor(gen, s, DType::F64), -1).indices;
                      cs.push_back({shape_str(s), {{raw::to(perm, dt)}}, int64_t(rng() % uint64_t(s[1])) + 1});
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>& in) {
                    Backend& be = backend_for(impl.device);
                    const Tensor& a = in[0];
                    Outputs out;
                    for (bool largest : {true, false}) {
                      Tensor v = empty_on({a.size(0), c.k}, a.dtype(), impl.device),
                             i = empty_on({a.size(0), c.k}, DType::I64, impl.device);
                      be.topk(v, i, a, c.k, largest);
                      Tensor sv = empty_like(a), si = empty_on(a.shape(), DType::I64, impl.device);
                      be.sort(sv, si, a, largest);
                      out.insert(out.end(), {v, i, sv, si});
                    }
                    return out;
                  }});
  rows.push_back({"uniform, normal",
                  false,
                  {DType::F64},
                  [](Generator&, std::mt19937& rng, DType) {
                    return std::vector<Case>{Case{"", {}, int64_t(rng() % 3000 + 1), double(rng() % 1000)}};
                  },
                  [](const Impl& impl, const Case& c, const std::vector<Tensor>&) {
                    Outputs out;
                    for (DType dt : kFloat) {
                      Tensor u = empty_on({c.k}, dt, impl.device), n = empty_on({c.k}, dt, impl.device);
                      backend_for(impl.device).uniform(u, 7, uint64_t(c.p0), -1.0, 2.0);
                      backend_for(impl.device).normal(n, 7, uint64_t(c.p0), 0.5, 2.0);
                      out.insert(out.end(), {u, n});
                    }
                    return out;
                  }});
  // tensor/jobs.h: independent jobs, each a product and softmax rows on its own slice, give what
  // the same kernels give outside the jobs (there on all threads, inside on one each).
  rows.push_back({"run_jobs", false, kFloat,
                  [](Generator& gen, std::mt19937& rng, DType dt) {
                    std::vector<Case> cs;
                    for (int i = 0; i < 2; ++i) {
                      const Shape s = random_shape(rng, 3, 1, 70);  // jobs x rows x cols
                      cs.push_back({shape_str(s), {dense(gen, s, dt), dense(gen, {s[0], s[2], s[2]}, dt)}});
                    }
                    return cs;
                  },
                  [](const Impl& impl, const Case&, const std::vector<Tensor>& in) {
                    const int64_t n = in[0].size(0);
                    auto job_of = [&](const Tensor& out) {
                      return [&in, out](int64_t i) {
                        raw::copy_(raw::select(out, 0, i),
                                   raw::softmax(raw::matmul(raw::select(in[0], 0, i), raw::select(in[1], 0, i)), 1));
                      };
                    };
                    Tensor inside = empty_like(in[0]), outside = empty_like(in[0]);
                    const int threads = omp_get_max_threads();
                    omp_set_num_threads(2);  // the binary runs with OMP_NUM_THREADS=1
                    run_jobs(impl.device, n, job_of(inside));
                    const auto plain = job_of(outside);
                    for (int64_t i = 0; i < n; ++i) plain(i);
                    omp_set_num_threads(threads);
                    CHECK(raw::to(inside, Device::cpu()).to_vector<double>() ==
                          raw::to(outside, Device::cpu()).to_vector<double>());
                    return Outputs{inside};
                  }});
}

// ---------------------------------------------------------------------------------------------
// The fused ops.

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

std::vector<Row> rows() {
  std::vector<Row> r;
  add_primitive_rows(r);
  add_fused_rows(r);
  return r;
}

}  // namespace

TEST_CASE("boundary: every primitive and fused op agrees across the reference, the CPU and CUDA") {
  if (!cuda_available()) MESSAGE("no CUDA GPU: the CUDA column is skipped");
  int64_t compared = 0;
  for (const Row& row : rows())
    for (DType dt : row.dtypes) {
      Generator gen(17);
      std::mt19937 rng(42);
      for (const Case& c : row.cases(gen, rng, dt)) {
        const std::vector<Impl> impls = implementations(row.fused);
        std::vector<Outputs> results;
        for (const Impl& impl : impls) {
          std::vector<Tensor> in;
          for (const Input& i : c.in) in.push_back(i.on(impl.device));
          results.push_back(row.run(impl, c, in));
        }
        for (size_t i = 1; i < impls.size(); ++i) {
          REQUIRE(results[i].size() == results[0].size());
          for (size_t o = 0; o < results[0].size(); ++o) {
            const DType cmp = results[0][o].dtype() == DType::BF16 ? DType::F32 : results[0][o].dtype();
            compare(results[i][o], results[0][o], cmp,
                    std::string(row.op) + " " + dtype_name(dt) + " " + c.what + ": " + impls[i].name + " vs " +
                        impls[0].name + ", output " + std::to_string(o));
            ++compared;
          }
        }
      }
    }
  CHECK(compared > 0);
  MESSAGE("compared ", compared, " outputs");
}

TEST_CASE("boundary: every registered fast kernel belongs to a declared fused op, and the table covers it") {
  const std::vector<std::string> declared = fused_registry::declared_names();
  std::vector<std::string> covered;
  for (const Row& row : rows()) covered.insert(covered.end(), row.covers.begin(), row.covers.end());
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (DeviceType type : {DeviceType::CPU, DeviceType::CUDA})
    for (const std::string& name : fused_registry::kernel_names(type))
      CHECK_MESSAGE(has(declared, name), name, " has a fast kernel but no FusedOp declares it (a misspelt name?)");
  for (const std::string& name : declared)
    CHECK_MESSAGE(has(covered, name), name, " is declared but no row of the boundary table runs it");
  CHECK(declared.size() == 21);  // the ops of nn/fused_*.h and moe/fused_*.h
}

}  // namespace promoe::test
