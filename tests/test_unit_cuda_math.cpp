// Host-side checks of the CUDA backend's kernel math; they need no GPU and run everywhere. The
// __host__ __device__ functions and launch plans of cuda/*.cuh, cuda/gemm_plan.h and
// cuda/size_class.h are driven over the same index space as the kernels in cuda/*.cu (flat element
// indices, warp lanes with their butterfly merges, work items, rows shared by lanes) and compared
// with the CPU backend on random inputs, non-contiguous and broadcast views included. The kernels
// themselves are checked on a GPU by tests/test_cuda_backend.cpp (label `cuda`).
#include <doctest/doctest.h>

#include "cuda_math_test_util.h"
#include "fused_ops.h"

using namespace cuda_math_test;

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
        check_equal(got, want,
                    std::string("copy ") + dtype_name(from) + " -> " + dtype_name(to) + " " + kind_name(kind));
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
#define PROMOE_EMU_UNARY(name, str)                                      \
  case UnaryOp::name:                                                    \
    loop([&](T v) { return math::unary<UnaryOp::name, T>(v, p0, p1); }); \
    break;
  switch (op) { PROMOE_UNARY_OPS(PROMOE_EMU_UNARY) }
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
#define PROMOE_EMU_BINARY(name, str, i64)                                                        \
  case BinaryOp::name:                                                                           \
    if constexpr (std::is_integral_v<T> && !math::binary_defined_for_integers<BinaryOp::name>()) \
      FAIL("not defined for integers");                                                          \
    else                                                                                         \
      loop([&](T u, T v) { return math::binary<BinaryOp::name, T>(u, v); });                     \
    break;
  switch (op) { PROMOE_BINARY_OPS(PROMOE_EMU_BINARY) }
#undef PROMOE_EMU_BINARY
}

bool needs_positive(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::PowScalar;
}

}  // namespace

TEST_CASE("cuda math: unary ops over strided views match the CPU") {
  Generator gen(3);
  const Shape shape{4, 3, 6};
  for (DType dt : {DType::F32, DType::F64})
    for (UnaryOp op : OpKinds<UnaryOp>::all)
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
    for (BinaryOp op : OpKinds<BinaryOp>::all)
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
    test::cpu_kernel(nn::fused::adamw_op)(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 7, 0.5);
    const double bias1 = 1.0 - std::pow(0.9, 7.0), bias2_sqrt = std::sqrt(1.0 - std::pow(0.999, 7.0));
    with_numeric(dt, [&](auto tag) {
      using T = decltype(tag);
      for (int64_t i = 0; i < 257; ++i)
        math::adamw<T>(p2.data<T>()[i], g.data<T>()[i] * T(0.5), m2.data<T>()[i], v2.data<T>()[i], T(1e-3), T(0.9),
                       T(0.999), T(1e-8), T(0.01), T(bias1), T(bias2_sqrt));
    });
    check_equal(p2, p, "adamw param");
    check_equal(m2, m, "adamw m");
    check_equal(v2, v, "adamw v");
  }
}
