// Host-side checks of the CUDA backend's kernel math; they need no GPU and run everywhere. The
// __host__ __device__ functions and launch plans of cuda/*.cuh, cuda/gemm_plan.h and
// cuda/size_class.h are driven over the same index space as the kernels in cuda/*.cu (flat element
// indices, warp lanes with their butterfly merges, work items, rows shared by lanes) and compared
// with the CPU backend on random inputs, non-contiguous and broadcast views included. The kernels
// themselves are checked on a GPU by tests/test_cuda_backend.cpp (label `cuda`).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>
#include <vector>

#include "cuda/elementwise_math.cuh"
#include "cuda/gemm_plan.h"
#include "cuda/index_math.cuh"
#include "cuda/reduce_math.cuh"
#include "cuda/rowwise_math.cuh"
#include "cuda/size_class.h"
#include "cuda/sort_math.cuh"
#include "cuda/strided.cuh"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/scalar_math.h"

using namespace promoe;
namespace pc = promoe::cuda;

namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

// Calls f(T{}) with T the storage type of `dt` (bf16 as its uint16_t bits, as the kernels store it).
template <typename F>
void with_storage(DType dt, F f) {
  switch (dt) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::I64: f(int64_t{}); break;
    case DType::BF16: f(uint16_t{}); break;
  }
}

template <typename F>
void with_numeric(DType dt, F f) {
  switch (dt) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::I64: f(int64_t{}); break;
    case DType::BF16: FAIL("bf16 is storage only"); break;
  }
}

const DType kAllDTypes[] = {DType::F32, DType::F64, DType::I64, DType::BF16};

// Normal * 3, converted to `dt` (i64: small integers with many ties).
Tensor random_tensor(Generator& gen, const Shape& shape, DType dt) {
  return raw::to(raw::mul_scalar(gen.randn(shape, DType::F64), 3.0), dt);
}

enum class ViewKind { Contiguous, Permuted, Narrowed, Broadcast };
const ViewKind kAllKinds[] = {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Narrowed, ViewKind::Broadcast};

const char* kind_name(ViewKind k) {
  switch (k) {
    case ViewKind::Contiguous: return "contiguous";
    case ViewKind::Permuted: return "permuted";
    case ViewKind::Narrowed: return "narrowed";
    case ViewKind::Broadcast: return "broadcast";
  }
  return "?";
}

// A random view of logical shape `shape`: contiguous, all dims reversed, a window of a larger
// tensor (offset and padded strides), or broadcast along every other dim (stride 0).
Tensor random_view(Generator& gen, const Shape& shape, DType dt, ViewKind kind) {
  const int64_t nd = int64_t(shape.size());
  switch (kind) {
    case ViewKind::Contiguous: return random_tensor(gen, shape, dt);
    case ViewKind::Permuted: {
      Shape rev(shape.rbegin(), shape.rend());
      std::vector<int64_t> perm(nd);
      for (int64_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
      return raw::permute(random_tensor(gen, rev, dt), perm);
    }
    case ViewKind::Narrowed: {
      Shape big = shape;
      for (int64_t& s : big) s += 2;
      Tensor t = random_tensor(gen, big, dt);
      for (int64_t d = 0; d < nd; ++d) t = raw::narrow(t, d, 1, shape[d]);
      return t;
    }
    case ViewKind::Broadcast: {
      Shape small = shape;
      for (int64_t d = 0; d < nd; d += 2) small[d] = 1;
      return raw::expand(random_tensor(gen, small, dt), shape);
    }
  }
  return Tensor();
}

// An uninitialised output of logical shape `shape` stored with its dims reversed (non-contiguous).
Tensor permuted_empty(const Shape& shape, DType dt) {
  const int64_t nd = int64_t(shape.size());
  Shape rev(shape.rbegin(), shape.rend());
  std::vector<int64_t> perm(nd);
  for (int64_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
  return raw::permute(Tensor::empty(rev, dt), perm);
}

int64_t naive_offset(const Shape& shape, const Shape& strides, int64_t i) {
  int64_t off = 0;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

// |got - want| <= atol + rtol * |want| elementwise (NaN matches NaN), on values read as f64.
void check_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(),
                  (what + ": shapes " + shape_str(got.shape()) + " vs " + shape_str(want.shape())));
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
    if (!both_nan && !(std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]))) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  }
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << g.size() << " elements differ";
  if (first >= 0) msg << "; first at " << first << ": " << g[first] << " vs " << w[first];
  CHECK_MESSAGE(bad == 0, msg.str());
}

void check_equal(const Tensor& got, const Tensor& want, const std::string& what) { check_close(got, want, 0, 0, what); }

double rtol_for(DType dt) { return dt == DType::F32 ? 2e-6 : dt == DType::F64 ? 1e-13 : 0; }

// The kernels' lane merge: after step s every lane l holds combine(v[l], v[l ^ s]).
template <typename V, typename Op>
void butterfly(V* v, Op op) {
  for (int s = 16; s > 0; s >>= 1) {
    V nv[32];
    for (int l = 0; l < 32; ++l) nv[l] = op(v[l], v[l ^ s]);
    std::copy(nv, nv + 32, v);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Allocator and geometry

TEST_CASE("cuda math: allocator size classes round up by at most a quarter and are stable") {
  CHECK(pc::size_class(0) == 512);
  CHECK(pc::size_class(1) == 512);
  CHECK(pc::size_class(512) == 512);
  CHECK(pc::size_class(513) == 640);
  CHECK(pc::size_class(1024) == 1024);
  CHECK(pc::size_class(1025) == 1280);
  CHECK(pc::size_class(1537) == 1792);
  CHECK(pc::size_class(size_t(3) << 30) == size_t(3) << 30);
  Generator gen(11);
  std::vector<double> u = gen.uniform({2000}, 0, 1, DType::F64).to_vector<double>();
  for (double x : u) {
    const size_t n = size_t(std::exp2(x * 40));  // 1 B .. 1 TB, log-uniform
    const size_t c = pc::size_class(n);
    CHECK(c >= n);
    CHECK(c >= pc::kMinBlock);
    CHECK(pc::size_class(c) == c);
    if (n > pc::kMinBlock) CHECK(double(c) <= 1.25 * double(n));
  }
  std::set<size_t> classes;
  for (size_t n = 1; n <= (size_t(1) << 20); n += 97) classes.insert(pc::size_class(n));
  CHECK(classes.size() <= 4 * 11 + 1);  // four classes per power of two from 512 B to 1 MiB
}

TEST_CASE("cuda math: strided offsets match the views' strides for every element") {
  Generator gen(1);
  const Shape shapes[] = {{7}, {3, 4}, {2, 3, 5}, {2, 1, 3, 4}, {4, 1}, {}, {2, 3, 4, 5, 2}, {1, 1, 1}};
  for (const Shape& shape : shapes)
    for (ViewKind k0 : kAllKinds)
      for (ViewKind k1 : kAllKinds) {
        Tensor a = random_view(gen, shape, DType::F32, k0), b = random_view(gen, shape, DType::F32, k1);
        pc::Geom<2> g = pc::make_geom<2>(shape, {&a.strides(), &b.strides()});
        REQUIRE(g.n == numel_of(shape));
        CHECK(g.nd <= std::max<int>(1, int(shape.size())));
        int64_t bad = 0;
        for (int64_t i = 0; i < g.n; ++i) {
          int64_t off[2];
          pc::offsets_of(g, i, off);
          bad += off[0] != naive_offset(shape, a.strides(), i) || off[1] != naive_offset(shape, b.strides(), i);
        }
        CHECK_MESSAGE(bad == 0, (std::string(kind_name(k0)) + "/" + kind_name(k1) + " " + shape_str(shape)));
      }
  // Contiguous views merge into one dim.
  Tensor c = Tensor::empty({2, 3, 4});
  CHECK(pc::make_geom<1>(c.shape(), {&c.strides()}).nd == 1);
}

TEST_CASE("cuda math: strided offsets past 2^32 elements take the 64-bit path") {
  const Shape shape{3, 5, (int64_t(1) << 31) + 7};
  const Shape strides{1, 3, 15};  // a transposed layout
  pc::Geom<1> g = pc::make_geom<1>(shape, {&strides});
  for (int64_t i : {int64_t(0), int64_t(1) << 32, (int64_t(1) << 32) + 12345, g.n - 1, int64_t(4294967295)}) {
    int64_t off;
    pc::offsets_of(g, i, &off);
    CHECK(off == naive_offset(shape, strides, i));
  }
  CHECK_THROWS_AS(pc::make_geom_unmerged<1>(Shape(9, 2), {&strides}), Error);
}

// ---------------------------------------------------------------------------------------------
// Elementwise

TEST_CASE("cuda math: copy converts every dtype pair like the CPU over strided views") {
  Generator gen(2);
  const Shape shape{3, 4, 5};
  for (DType from : kAllDTypes)
    for (DType to : kAllDTypes)
      for (ViewKind kind : kAllKinds) {
        Tensor src = random_view(gen, shape, from, kind);
        Tensor want = permuted_empty(shape, to), got = permuted_empty(shape, to);
        cpu().copy(want, src);
        pc::Geom<2> g = pc::make_geom<2>(shape, {&got.strides(), &src.strides()});
        with_storage(to, [&](auto to_tag) {
          with_storage(from, [&](auto from_tag) {
            using To = decltype(to_tag);
            using From = decltype(from_tag);
            To* o = static_cast<To*>(got.raw_data());
            const From* x = static_cast<const From*>(src.raw_data());
            for (int64_t i = 0; i < g.n; ++i) {
              int64_t off[2];
              pc::offsets_of(g, i, off);
              o[off[0]] = pc::emath::convert<To, From>(x[off[1]]);
            }
          });
        });
        check_equal(got, want, std::string("copy ") + dtype_name(from) + " -> " + dtype_name(to) + " " + kind_name(kind));
      }
}

TEST_CASE("cuda math: fill and arange match the CPU") {
  for (DType dt : kAllDTypes) {
    Tensor want = permuted_empty({3, 4}, dt), got = permuted_empty({3, 4}, dt);
    cpu().fill(want, -2.7);
    pc::Geom<1> g = pc::make_geom<1>(got.shape(), {&got.strides()});
    with_storage(dt, [&](auto tag) {
      using T = decltype(tag);
      for (int64_t i = 0; i < g.n; ++i) {
        int64_t off;
        pc::offsets_of(g, i, &off);
        static_cast<T*>(got.raw_data())[off] = pc::emath::fill_value<T>(-2.7);
      }
    });
    check_equal(got, want, std::string("fill ") + dtype_name(dt));
  }
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    Tensor want = Tensor::empty({37}, dt), got = Tensor::empty({37}, dt);
    cpu().arange(want, -3.5, 0.25);
    with_numeric(dt, [&](auto tag) {
      using T = decltype(tag);
      for (int64_t i = 0; i < 37; ++i) got.data<T>()[i] = pc::emath::arange_at<T>(i, -3.5, 0.25);
    });
    check_equal(got, want, std::string("arange ") + dtype_name(dt));
  }
}

TEST_CASE("cuda math: Philox draws are element i of stream (seed, offset) as on the CPU") {
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor u = Tensor::empty({1000}, dt), n = Tensor::empty({1000}, dt);
    cpu().uniform(u, 42, 12345, -1.5, 2.0);
    cpu().normal(n, 42, 777, 0.5, 2.0);
    with_numeric(dt, [&](auto tag) {
      using T = decltype(tag);
      int64_t bad = 0;
      for (int64_t i = 0; i < 1000; ++i) {
        bad += pc::emath::uniform_at<T>(42, 12345, i, -1.5, 2.0) != u.data<T>()[i];
        bad += pc::emath::normal_at<T>(42, 777, i, 0.5, 2.0) != n.data<T>()[i];
      }
      CHECK(bad == 0);
    });
  }
}

namespace {

template <typename T>
void emulate_unary(UnaryOp op, const Tensor& out, const Tensor& a, T p0, T p1) {
  pc::Geom<2> g = pc::make_geom<2>(out.shape(), {&out.strides(), &a.strides()});
  T* o = out.data<T>();
  const T* x = a.data<T>();
  auto loop = [&](auto f) {
    for (int64_t i = 0; i < g.n; ++i) {
      int64_t off[2];
      pc::offsets_of(g, i, off);
      o[off[0]] = f(x[off[1]]);
    }
  };
#define PROMOE_EMU_UNARY(name) \
  case UnaryOp::name: loop([&](T v) { return math::unary<UnaryOp::name, T>(v, p0, p1); }); break;
  switch (op) {
    PROMOE_EMU_UNARY(Neg) PROMOE_EMU_UNARY(Exp) PROMOE_EMU_UNARY(Log) PROMOE_EMU_UNARY(Sqrt)
    PROMOE_EMU_UNARY(Rsqrt) PROMOE_EMU_UNARY(Tanh) PROMOE_EMU_UNARY(Sigmoid) PROMOE_EMU_UNARY(Silu)
    PROMOE_EMU_UNARY(GeluTanh) PROMOE_EMU_UNARY(Sin) PROMOE_EMU_UNARY(Cos) PROMOE_EMU_UNARY(Abs)
    PROMOE_EMU_UNARY(Relu) PROMOE_EMU_UNARY(Sign) PROMOE_EMU_UNARY(Square) PROMOE_EMU_UNARY(Reciprocal)
    PROMOE_EMU_UNARY(PowScalar) PROMOE_EMU_UNARY(Affine) PROMOE_EMU_UNARY(Clamp)
  }
#undef PROMOE_EMU_UNARY
}

template <typename T>
void emulate_binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  pc::Geom<3> g = pc::make_geom<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  T* o = out.data<T>();
  const T* x = a.data<T>();
  const T* y = b.data<T>();
  auto loop = [&](auto f) {
    for (int64_t i = 0; i < g.n; ++i) {
      int64_t off[3];
      pc::offsets_of(g, i, off);
      o[off[0]] = f(x[off[1]], y[off[2]]);
    }
  };
#define PROMOE_EMU_BINARY(name)                                                                 \
  case BinaryOp::name:                                                                          \
    if constexpr (std::is_integral_v<T> && !math::binary_defined_for_integers<BinaryOp::name>()) \
      FAIL("not defined for integers");                                                         \
    else                                                                                        \
      loop([&](T u, T v) { return math::binary<BinaryOp::name, T>(u, v); });                     \
    break;
  switch (op) {
    PROMOE_EMU_BINARY(Add) PROMOE_EMU_BINARY(Sub) PROMOE_EMU_BINARY(Mul) PROMOE_EMU_BINARY(Div)
    PROMOE_EMU_BINARY(Pow) PROMOE_EMU_BINARY(Maximum) PROMOE_EMU_BINARY(Minimum) PROMOE_EMU_BINARY(Eq)
    PROMOE_EMU_BINARY(Ne) PROMOE_EMU_BINARY(Lt) PROMOE_EMU_BINARY(Le) PROMOE_EMU_BINARY(Gt)
    PROMOE_EMU_BINARY(Ge) PROMOE_EMU_BINARY(GeluTanhBackward) PROMOE_EMU_BINARY(SiluBackward)
    PROMOE_EMU_BINARY(SigmoidBackwardFromOutput) PROMOE_EMU_BINARY(TanhBackwardFromOutput)
  }
#undef PROMOE_EMU_BINARY
}

const UnaryOp kUnaryOps[] = {UnaryOp::Neg,      UnaryOp::Exp,    UnaryOp::Log,        UnaryOp::Sqrt,
                             UnaryOp::Rsqrt,    UnaryOp::Tanh,   UnaryOp::Sigmoid,    UnaryOp::Silu,
                             UnaryOp::GeluTanh, UnaryOp::Sin,    UnaryOp::Cos,        UnaryOp::Abs,
                             UnaryOp::Relu,     UnaryOp::Sign,   UnaryOp::Square,     UnaryOp::Reciprocal,
                             UnaryOp::PowScalar, UnaryOp::Affine, UnaryOp::Clamp};
const BinaryOp kBinaryOps[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow,
                               BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt,
                               BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge, BinaryOp::GeluTanhBackward,
                               BinaryOp::SiluBackward, BinaryOp::SigmoidBackwardFromOutput,
                               BinaryOp::TanhBackwardFromOutput};

bool needs_positive(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::PowScalar;
}

}  // namespace

TEST_CASE("cuda math: unary ops over strided views match the CPU") {
  Generator gen(3);
  const Shape shape{4, 3, 6};
  for (DType dt : {DType::F32, DType::F64})
    for (UnaryOp op : kUnaryOps)
      for (ViewKind kind : kAllKinds) {
        Tensor a = random_view(gen, shape, dt, kind);
        if (needs_positive(op)) a = raw::add_scalar(raw::unary(UnaryOp::Abs, a), 0.1);
        const double p0 = op == UnaryOp::Clamp ? -1.0 : 2.5, p1 = op == UnaryOp::Clamp ? 1.5 : -0.5;
        Tensor want = permuted_empty(shape, dt), got = permuted_empty(shape, dt);
        cpu().unary(op, want, a, p0, p1);
        with_numeric(dt, [&](auto tag) {
          using T = decltype(tag);
          emulate_unary<T>(op, got, a, T(p0), T(p1));
        });
        check_close(got, want, rtol_for(dt), rtol_for(dt),
                    std::string("unary op ") + std::to_string(int(op)) + " " + dtype_name(dt) + " " + kind_name(kind));
      }
}

TEST_CASE("cuda math: binary ops with broadcasting match the CPU") {
  Generator gen(4);
  const Shape out_shape{4, 3, 5};
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (BinaryOp op : kBinaryOps)
      for (ViewKind kind : kAllKinds) {
        bool defined = true;
        if (dt == DType::I64)
          defined = op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul || op == BinaryOp::Maximum ||
                    op == BinaryOp::Minimum || op == BinaryOp::Eq || op == BinaryOp::Ne || op == BinaryOp::Lt ||
                    op == BinaryOp::Le || op == BinaryOp::Gt || op == BinaryOp::Ge;
        if (!defined) continue;
        Tensor a = raw::expand(random_view(gen, {4, 1, 5}, dt, kind), out_shape);
        Tensor b = raw::expand(random_view(gen, {3, 1}, dt, kind), out_shape);
        if (op == BinaryOp::Pow) a = raw::add_scalar(raw::unary(UnaryOp::Abs, a), 0.1);
        Tensor want = Tensor::empty(out_shape, dt), got = Tensor::empty(out_shape, dt);
        cpu().binary(op, want, a, b);
        with_numeric(dt, [&](auto tag) { emulate_binary<decltype(tag)>(op, got, a, b); });
        check_close(got, want, rtol_for(dt), rtol_for(dt),
                    std::string("binary op ") + std::to_string(int(op)) + " " + dtype_name(dt) + " " + kind_name(kind));
      }
}

TEST_CASE("cuda math: where reads a condition of any dtype like the CPU") {
  Generator gen(5);
  const Shape shape{3, 4, 2};
  for (DType cdt : kAllDTypes)
    for (DType dt : {DType::F32, DType::F64, DType::I64}) {
      Tensor c = raw::to(random_view(gen, {3, 1, 2}, DType::I64, ViewKind::Permuted), cdt);  // many zeros
      c = raw::expand(c, shape);
      Tensor a = random_view(gen, shape, dt, ViewKind::Narrowed), b = random_view(gen, shape, dt, ViewKind::Broadcast);
      Tensor want = Tensor::empty(shape, dt), got = Tensor::empty(shape, dt);
      cpu().where(want, c, a, b);
      pc::Geom<4> g = pc::make_geom<4>(shape, {&got.strides(), &c.strides(), &a.strides(), &b.strides()});
      with_numeric(dt, [&](auto tag) {
        using T = decltype(tag);
        for (int64_t i = 0; i < g.n; ++i) {
          int64_t off[4];
          pc::offsets_of(g, i, off);
          got.data<T>()[off[0]] =
              pc::emath::truth(c.raw_data(), off[1], c.dtype()) ? a.data<T>()[off[2]] : b.data<T>()[off[3]];
        }
      });
      check_equal(got, want, std::string("where cond ") + dtype_name(cdt) + " values " + dtype_name(dt));
    }
}

TEST_CASE("cuda math: the fused AdamW step matches the CPU") {
  Generator gen(6);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor p = gen.randn({257}, dt), g = gen.randn({257}, dt), m = gen.randn({257}, dt);
    Tensor v = raw::unary(UnaryOp::Abs, gen.randn({257}, dt));
    Tensor p2 = raw::clone(p), m2 = raw::clone(m), v2 = raw::clone(v);
    cpu().adamw(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 7);
    const double bias1 = 1.0 - std::pow(0.9, 7.0), bias2_sqrt = std::sqrt(1.0 - std::pow(0.999, 7.0));
    with_numeric(dt, [&](auto tag) {
      using T = decltype(tag);
      for (int64_t i = 0; i < 257; ++i)
        math::adamw<T>(p2.data<T>()[i], g.data<T>()[i], m2.data<T>()[i], v2.data<T>()[i], T(1e-3), T(0.9), T(0.999),
                       T(1e-8), T(0.01), T(bias1), T(bias2_sqrt));
    });
    check_equal(p2, p, "adamw param");
    check_equal(m2, m, "adamw m");
    check_equal(v2, v, "adamw v");
  }
}

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
    if (P == 1) o[m] = pc::rmath::finalize<T>(op, lane[0], p.R);
    else partial[w] = lane[0];
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
  const Case cases[] = {{{6, 7, 8}, {2}},    {{6, 7, 8}, {1, 2}}, {{6, 7, 8}, {0}},    {{6, 7, 8}, {0, 2}},
                        {{6, 7, 8}, {0, 1, 2}}, {{3, 5000}, {1}}, {{5000, 3}, {0}},   {{3, 2100}, {0}},
                        {{2, 0, 3}, {1}},    {{4, 1, 3}, {1}}};
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
        const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " lanes=" + std::to_string(nl);
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
            emulate_layer_norm_row(got.data<T>() + r * n, got_m.data<T>() + r, got_r.data<T>() + r,
                                   x.data<T>() + r * n, n, 1e-5, nl);
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
    if (p.add) v1[at] += v0[off[0]];
    else v0[off[0]] = v1[at];
  }
}

Tensor random_index(Generator& gen, const Shape& shape, int64_t bound) {
  return gen.randint(shape, 0, bound);
}

}  // namespace

TEST_CASE("cuda math: index_select, index_add, gather and scatter_add over strided views match the CPU") {
  Generator gen(10);
  const Shape shape{5, 6, 7};
  using pc::imath::Mode;
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (int64_t dim = 0; dim < 3; ++dim)
      for (ViewKind kind : {ViewKind::Contiguous, ViewKind::Permuted, ViewKind::Narrowed}) {
        const std::string what =
            std::string(dtype_name(dt)) + " dim " + std::to_string(dim) + " " + kind_name(kind);
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

// ---------------------------------------------------------------------------------------------
// Matrix products

namespace {

// Reference column-major GEMM with BLAS semantics (C is not read when beta == 0).
template <typename T>
void ref_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      T acc = 0;
      for (int64_t l = 0; l < k; ++l) acc += (ta ? A[l + i * lda] : A[i + l * lda]) * (tb ? B[j + l * ldb] : B[l + j * ldb]);
      T& c = C[i + j * ldc];
      c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
    }
}

pc::gemm::Mat mat_of(const Tensor& t) { return {t.size(1), t.size(2), t.stride(1), t.stride(2)}; }

// CudaBackend::matmul with cuBLAS replaced by ref_gemm (same plan, same fallbacks).
void emulate_matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  using pc::gemm::Layout;
  auto usable = [](const Tensor& t) { return pc::gemm::layout_of(mat_of(t)) != Layout::None; };
  const Tensor A = usable(a) ? a : raw::contiguous(a);
  const Tensor B = usable(b) ? b : raw::contiguous(b);
  const int64_t batch = out.size(0);
  const bool out_ok = usable(out) && (batch == 1 || out.stride(0) != 0);
  const Tensor O = out_ok ? out : Tensor::empty(out.shape(), out.dtype());
  if (!out_ok && beta != 0) cpu().copy(O, out);
  const pc::gemm::Plan p = pc::gemm::plan(mat_of(A), mat_of(B), mat_of(O));
  const Tensor& first = p.swap ? B : A;
  const Tensor& second = p.swap ? A : B;
  // BLAS argument rules.
  CHECK(p.ld_first >= std::max<int64_t>(1, p.trans_first ? p.k : p.m));
  CHECK(p.ld_second >= std::max<int64_t>(1, p.trans_second ? p.n : p.k));
  CHECK(p.ldc >= std::max<int64_t>(1, p.m));
  for (int64_t i = 0; i < batch; ++i)
    ref_gemm<double>(p.trans_first, p.trans_second, p.m, p.n, p.k, alpha,
                     first.data<double>() + i * first.stride(0), p.ld_first,
                     second.data<double>() + i * second.stride(0), p.ld_second, beta,
                     O.data<double>() + i * O.stride(0), p.ldc);
  if (!O.same(out)) cpu().copy(out, O);
}

// Views of logical shape (Bt, R, C) in the layouts a GEMM operand can arrive in.
Tensor gemm_operand(Generator& gen, int64_t bt, int64_t r, int64_t c, int kind) {
  switch (kind) {
    case 0: return gen.randn({bt, r, c}, DType::F64);                                            // row-major
    case 1: return raw::transpose(gen.randn({bt, c, r}, DType::F64), 1, 2);                       // column-major
    case 2: return raw::narrow(gen.randn({bt, r, c + 3}, DType::F64), 2, 1, c);                   // row-major, ld > cols
    case 3: return raw::narrow(raw::transpose(gen.randn({bt, c + 2, r}, DType::F64), 1, 2), 2, 2, c);  // col-major window
    case 4: {                                                                                     // neither: stride 2
      Tensor base = gen.randn({bt, r, 2 * c}, DType::F64);
      return Tensor::view_of(base, {bt, r, c}, {r * 2 * c, 2 * c, 2}, 0);
    }
    default: return raw::expand(gen.randn({1, r, c}, DType::F64), {bt, r, c});                    // batch stride 0
  }
}

}  // namespace

TEST_CASE("cuda math: the GEMM plan (transposes, leading dims, fallbacks) reproduces the CPU matmul") {
  Generator gen(13);
  struct Dims {
    int64_t bt, m, k, n;
  };
  const Dims dims[] = {{1, 4, 5, 3}, {3, 4, 5, 3}, {2, 1, 6, 4}, {2, 5, 1, 3}, {2, 4, 6, 1}, {1, 1, 1, 1}};
  for (const Dims& d : dims)
    for (int ka = 0; ka < 6; ++ka)
      for (int kb = 0; kb < 6; ++kb)
        for (int ko = 0; ko < 3; ++ko)
          for (double beta : {0.0, 0.5}) {
            Tensor a = gemm_operand(gen, d.bt, d.m, d.k, ka), b = gemm_operand(gen, d.bt, d.k, d.n, kb);
            Tensor init = gen.randn({d.bt, d.m, d.n}, DType::F64);
            auto out_view = [&]() {
              if (ko == 0) return raw::clone(init);
              if (ko == 1) {  // column-major output
                Tensor o = raw::transpose(Tensor::empty({d.bt, d.n, d.m}, DType::F64), 1, 2);
                cpu().copy(o, init);
                return o;
              }
              Tensor base = Tensor::empty({d.bt, d.m, 2 * d.n}, DType::F64);  // neither: stride 2
              Tensor o = Tensor::view_of(base, {d.bt, d.m, d.n}, {d.m * 2 * d.n, 2 * d.n, 2}, 0);
              cpu().copy(o, init);
              return o;
            };
            Tensor want = out_view(), got = out_view();
            cpu().matmul(want, a, b, 1.5, beta);
            emulate_matmul(got, a, b, 1.5, beta);
            check_close(got, want, 1e-12, 1e-12,
                        "matmul b" + std::to_string(d.bt) + " m" + std::to_string(d.m) + " k" + std::to_string(d.k) +
                            " n" + std::to_string(d.n) + " layouts " + std::to_string(ka) + std::to_string(kb) +
                            std::to_string(ko) + " beta " + std::to_string(beta));
          }
  using pc::gemm::Layout;
  CHECK(pc::gemm::layout_of({4, 5, 5, 1}) == Layout::Row);
  CHECK(pc::gemm::layout_of({4, 5, 1, 4}) == Layout::Col);
  CHECK(pc::gemm::layout_of({4, 5, 10, 2}) == Layout::None);
  CHECK(pc::gemm::layout_of({4, 5, 0, 1}) == Layout::None);  // broadcast rows cannot be a BLAS operand
}
