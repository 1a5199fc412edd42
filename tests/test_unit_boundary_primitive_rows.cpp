// The boundary table's rows of the primitives of tensor/backend.h and of the job runners
// (tensor/jobs.h), over random shapes, strided and broadcast views and dtypes (boundary_table.h).
#include <doctest/doctest.h>
#include <omp.h>

#include <string>
#include <vector>

#include "boundary_table.h"
#include "tensor/jobs.h"

namespace promoe::test::boundary {
namespace {

Input random_input(Generator& gen, const Shape& shape, DType dt, ViewKind kind, double scale = 1.0) {
  return {random_tensor(gen, view_base_shape(shape, kind), dt, scale),
          [shape, kind](const Tensor& t) { return apply_view(t, shape, kind); }};
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

// Cases of an elementwise op over every view kind of a random 3-D shape.
std::vector<Case> per_view(Generator& gen, std::mt19937& rng, DType dt,
                           const std::function<Case(Generator&, const Shape&, ViewKind)>& one) {
  std::vector<Case> cs;
  for (ViewKind kind : kAllKinds) {
    Case c = one(gen, random_shape(rng, 3, 1, 7), kind);
    c.what += std::string(" ") + kind_name(kind);
    cs.push_back(c);
  }
  return cs;
}

}  // namespace

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

}  // namespace promoe::test::boundary
