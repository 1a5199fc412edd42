// Tensor core: creation, views that share storage, contiguity, dtype conversions (bf16 rounding)
// and the Philox generator. Values are checked against hand-computed expectations.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "cpu/cpu_backend.h"
#include "tensor/ops.h"
#include "tensor/philox.h"
#include "tensor/random.h"

using namespace promoe;

namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

bool shares_storage(const Tensor& a, const Tensor& b) { return a.storage().get() == b.storage().get(); }

// 0, 1, ..., n-1 as f32 in `shape`.
Tensor iota(const Shape& shape) { return raw::reshape(raw::arange(0, double(numel_of(shape)), 1, DType::F32), shape); }

}  // namespace

TEST_CASE("creation: empty, zeros, ones, full, scalar") {
  Tensor e = Tensor::empty({2, 3, 4}, DType::F64);
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides() == Shape{12, 4, 1});
  CHECK(e.offset() == 0);
  CHECK(e.dtype() == DType::F64);
  CHECK(e.device().is_cpu());
  CHECK(e.numel() == 24);
  CHECK(e.is_contiguous());

  for (DType dt : {DType::F32, DType::F64, DType::I64, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    CHECK(vals(raw::zeros({2, 2}, dt)) == std::vector<double>(4, 0.0));
    CHECK(vals(raw::ones({3}, dt)) == std::vector<double>(3, 1.0));
    CHECK(vals(raw::full({2}, 7.0, dt)) == std::vector<double>{7, 7});
    CHECK(raw::zeros({2}, dt).dtype() == dt);
  }
  Tensor s = raw::scalar(2.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 2.5);
  CHECK(raw::zeros({0, 3}).numel() == 0);
}

TEST_CASE("creation: arange and from_vector") {
  CHECK(raw::arange(5).dtype() == DType::I64);
  CHECK(raw::arange(5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(vals(raw::arange(0, 1, 0.25, DType::F32)) == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(vals(raw::arange(5, 0, -2, DType::F64)) == std::vector<double>{5, 3, 1});
  CHECK(raw::arange(3, 3, 1, DType::F32).numel() == 0);

  Tensor f = raw::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(f.dtype() == DType::F32);
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(raw::from_vector<double>({1.5}, {}).item() == 1.5);
  CHECK(raw::from_vector<int64_t>({4, -2}, {2}).dtype() == DType::I64);
  CHECK(raw::from_vector<int64_t>({4, -2}, {2}).to_vector<int64_t>() == std::vector<int64_t>{4, -2});
}

TEST_CASE("views share storage: reshape, permute, transpose, narrow, select, expand, squeeze, unsqueeze") {
  Tensor a = iota({2, 3, 4});  // a[i][j][k] = 12i + 4j + k

  Tensor r = raw::reshape(a, {6, -1});
  CHECK(shares_storage(r, a));
  CHECK(r.shape() == Shape{6, 4});
  CHECK(vals(r) == vals(a));

  Tensor p = raw::permute(a, {2, 0, 1});  // (4, 2, 3)
  CHECK(shares_storage(p, a));
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK(!p.is_contiguous());
  CHECK(vals(p) ==
        std::vector<double>{0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});

  Tensor t = raw::transpose(a, 0, 2);  // (4, 3, 2)
  CHECK(shares_storage(t, a));
  CHECK(t.strides() == Shape{1, 4, 12});
  CHECK(vals(raw::select(raw::select(t, 0, 1), 0, 2)) == std::vector<double>{9, 21});

  Tensor n = raw::narrow(a, 2, 1, 2);  // (2, 3, 2): k in {1, 2}
  CHECK(shares_storage(n, a));
  CHECK(n.offset() == 1);
  CHECK(vals(n) == std::vector<double>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
  Tensor n1 = raw::narrow(a, -2, 2, 1);
  CHECK(n1.shape() == Shape{2, 1, 4});
  CHECK(vals(n1) == std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23});

  Tensor s = raw::select(a, 1, 2);  // (2, 4)
  CHECK(shares_storage(s, a));
  CHECK(s.shape() == Shape{2, 4});
  CHECK(vals(s) == std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(raw::select(a, 0, 1).offset() == 12);

  Tensor col = raw::from_vector<float>({1, 2}, {2, 1});
  Tensor e = raw::expand(col, {3, 2, 3});
  CHECK(shares_storage(e, col));
  CHECK(e.strides() == Shape{0, 1, 0});
  CHECK(vals(e) == std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
  CHECK(raw::expand(col, {-1, 4}).shape() == Shape{2, 4});

  Tensor u = raw::unsqueeze(a, 1);
  CHECK(shares_storage(u, a));
  CHECK(u.shape() == Shape{2, 1, 3, 4});
  CHECK(raw::unsqueeze(a, -1).shape() == Shape{2, 3, 4, 1});
  Tensor sq = raw::squeeze(u, 1);
  CHECK(shares_storage(sq, a));
  CHECK(sq.shape() == a.shape());
  CHECK(sq.strides() == a.strides());
}

TEST_CASE("writes through a view reach the base tensor") {
  Tensor a = raw::zeros({3, 4});
  raw::fill_(raw::narrow(a, 1, 1, 2), 5.0);
  raw::copy_(raw::select(a, 0, 2), raw::from_vector<float>({1, 2, 3, 4}, {4}));
  raw::fill_(raw::select(raw::transpose(a, 0, 1), 0, 0), -1.0);  // column 0
  CHECK(vals(a) == std::vector<double>{-1, 5, 5, 0, -1, 5, 5, 0, -1, 2, 3, 4});
}

TEST_CASE("reshape is a view whenever the strides allow it, else a copy") {
  Tensor a = iota({4, 6});
  // Rows narrowed: still contiguous rows, any reshape is a view.
  Tensor rows = raw::narrow(a, 0, 1, 2);
  CHECK(rows.is_contiguous());
  Tensor r1 = raw::reshape(rows, {3, 4});
  CHECK(shares_storage(r1, a));
  CHECK(vals(r1) == std::vector<double>{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17});
  // Columns narrowed: merging the leading dims of (2, 2, 3)-shaped chunks is still a view.
  Tensor cols = raw::narrow(raw::reshape(a, {2, 2, 6}), 2, 0, 3);  // (2, 2, 3), strides (12, 6, 1)
  Tensor r2 = raw::reshape(cols, {4, 3});
  CHECK(shares_storage(r2, a));
  CHECK(r2.strides() == Shape{6, 1});
  CHECK(vals(r2) == std::vector<double>{0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20});
  // A transposed matrix reshaped to itself, or with unit dims added, stays a view.
  Tensor t = raw::transpose(a, 0, 1);  // (6, 4)
  CHECK(shares_storage(raw::reshape(t, {6, 4}), a));
  Tensor t3 = raw::reshape(t, {6, 1, 4});
  CHECK(shares_storage(t3, a));
  CHECK(vals(t3) == vals(t));
  // Flattening a transposed matrix needs a copy, with the logical order kept.
  Tensor flat = raw::reshape(t, {-1});
  CHECK(!shares_storage(flat, a));
  CHECK(flat.is_contiguous());
  std::vector<double> want;
  for (int j = 0; j < 6; ++j)
    for (int i = 0; i < 4; ++i) want.push_back(6 * i + j);
  CHECK(vals(flat) == want);
  // Scalars and empty tensors.
  CHECK(raw::reshape(raw::scalar(3.0), {1, 1}).shape() == Shape{1, 1});
  CHECK(raw::reshape(raw::from_vector<float>({3}, {1, 1}), {}).item() == 3.0);
  CHECK(raw::reshape(raw::zeros({0, 4}), {2, 0, 2}).shape() == Shape{2, 0, 2});
}

TEST_CASE("contiguous copies only when needed; clone always copies") {
  Tensor a = iota({3, 4});
  Tensor c = raw::contiguous(a);
  CHECK(c.same(a));
  Tensor rows = raw::narrow(a, 0, 1, 2);
  CHECK(raw::contiguous(rows).same(rows));  // narrowed rows are contiguous already
  Tensor t = raw::transpose(a, 0, 1);
  Tensor tc = raw::contiguous(t);
  CHECK(!shares_storage(tc, a));
  CHECK(tc.is_contiguous());
  CHECK(vals(tc) == vals(t));
  Tensor cl = raw::clone(a);
  CHECK(!shares_storage(cl, a));
  CHECK(vals(cl) == vals(a));
  // Size-1 dims do not break contiguity, whatever their stride.
  Tensor u = Tensor::view_of(a, {3, 1, 4}, {4, 99, 1}, 0);
  CHECK(u.is_contiguous());
  CHECK(raw::contiguous(u).same(u));
}

TEST_CASE("dtype conversions f32 / f64 / i64 / bf16") {
  Tensor f = raw::from_vector<float>({2.7f, -2.7f, 0.5f, 3.0f}, {4});
  CHECK(raw::to(f, DType::F64).dtype() == DType::F64);
  CHECK(raw::to(f, DType::F64).to_vector<float>() == f.to_vector<float>());
  CHECK(raw::to(f, DType::I64).to_vector<int64_t>() == std::vector<int64_t>{2, -2, 0, 3});  // toward zero
  Tensor i = raw::from_vector<int64_t>({-3, 0, 1 << 20}, {3});
  CHECK(vals(raw::to(i, DType::F32)) == std::vector<double>{-3, 0, 1 << 20});
  CHECK(raw::to(f, DType::F32).same(f));  // no-op conversion returns the same tensor
  // Conversions honour views.
  Tensor a = iota({2, 3});
  CHECK(vals(raw::to(raw::transpose(a, 0, 1), DType::F64)) == std::vector<double>{0, 3, 1, 4, 2, 5});
  CHECK(raw::to(raw::transpose(a, 0, 1), DType::I64).to_vector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("bf16 rounds to nearest even and keeps NaN and infinities") {
  auto from_bits = [](uint32_t u) { return std::bit_cast<float>(u); };
  // Exactly representable.
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(-2.0f) == 0xC000);
  // Halfway cases go to the even neighbour.
  CHECK(f32_to_bf16(from_bits(0x3F808000u)) == 0x3F80);  // 1 + 2^-8: between 0x3F80 (even) and 0x3F81
  CHECK(f32_to_bf16(from_bits(0x3F818000u)) == 0x3F82);  // between 0x3F81 and 0x3F82 (even)
  CHECK(f32_to_bf16(from_bits(0xBF818000u)) == 0xBF82);
  // Off-halfway cases go to the nearest.
  CHECK(f32_to_bf16(from_bits(0x3F808001u)) == 0x3F81);
  CHECK(f32_to_bf16(from_bits(0x3F807FFFu)) == 0x3F80);
  // Overflow rounds to infinity; infinities and NaN survive (NaN stays NaN even with a low payload).
  CHECK(f32_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);
  CHECK(f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
  CHECK(f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7F800001u)))));
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(bf16_to_f32(0x3F81) == 1.0078125f);

  // Through tensors: f32 -> bf16 -> f32 and from f64 and i64.
  Tensor x = raw::from_vector<float>(
      {1.0f, from_bits(0x3F808000u), from_bits(0x3F818000u), 3.14159f, std::numeric_limits<float>::quiet_NaN(), -0.0f},
      {6});
  Tensor b = raw::to(x, DType::BF16);
  CHECK(b.dtype() == DType::BF16);
  CHECK(b.storage()->nbytes() == 12);
  std::vector<float> back = raw::to(b, DType::F32).to_vector<float>();
  CHECK(back[0] == 1.0f);
  CHECK(back[1] == 1.0f);
  CHECK(back[2] == 1.015625f);
  CHECK(back[3] == 3.140625f);
  CHECK(std::isnan(back[4]));
  CHECK(back[5] == 0.0f);
  CHECK(std::signbit(back[5]));
  CHECK(vals(raw::to(raw::from_vector<double>({0.1, 256.5}, {2}), DType::BF16)) ==
        std::vector<double>{0.10009765625, 256});
  CHECK(vals(raw::to(raw::from_vector<int64_t>({3, -7}, {2}), DType::BF16)) == std::vector<double>{3, -7});
  CHECK(raw::to(b, DType::I64).to_vector<int64_t>()[3] == 3);
}

TEST_CASE("Philox matches Random123's known-answer vector") {
  philox::U4 r = philox::philox4x32_10(0, 0);
  CHECK(r.x[0] == 0x6627e8d5u);
  CHECK(r.x[1] == 0xe169c58du);
  CHECK(r.x[2] == 0xbc57ac4cu);
  CHECK(r.x[3] == 0x9b00dbd8u);
}

TEST_CASE("generators are reproducible and advance their offsets") {
  Generator g1(42), g2(42);
  Tensor a1 = g1.randn({3, 5}), a2 = g2.randn({3, 5});
  CHECK(vals(a1) == vals(a2));
  CHECK(g1.offset() == 15);
  Tensor b1 = g1.uniform({4});
  CHECK(g1.offset() == 19);
  CHECK(vals(b1) != vals(g1.uniform({4})));  // the offset moved: fresh numbers

  // (seed, offset) is the whole state: a generator started at offset 5 continues the stream.
  Tensor whole = Generator(7).uniform({10}, 0, 1, DType::F64);
  Tensor tail = Generator(7, 5).uniform({5}, 0, 1, DType::F64);
  std::vector<double> w = vals(whole);
  CHECK(vals(tail) == std::vector<double>(w.begin() + 5, w.end()));
  Generator g3(1);
  g3.set_state(7, 5);
  CHECK(vals(g3.uniform({5}, 0, 1, DType::F64)) == vals(tail));

  // Different seeds differ; f32 and f64 draws agree up to rounding.
  CHECK(vals(Generator(1).randn({8})) != vals(Generator(2).randn({8})));
  std::vector<double> n32 = vals(Generator(3).randn({8})), n64 = vals(Generator(3).randn({8}, DType::F64));
  for (int i = 0; i < 8; ++i) CHECK(n32[i] == doctest::Approx(n64[i]).epsilon(1e-6));
}

TEST_CASE("generator distributions have the right moments and ranges") {
  const int64_t n = 200000;
  std::vector<double> z = vals(Generator(11).normal({n}, 2.0, 3.0, DType::F64));
  double m = 0, v = 0;
  for (double x : z) m += x;
  m /= double(n);
  for (double x : z) v += (x - m) * (x - m);
  v /= double(n - 1);
  CHECK(std::abs(m - 2.0) < 0.03);  // standard error 3 / sqrt(n) = 0.0067
  CHECK(std::abs(std::sqrt(v) - 3.0) < 0.03);

  std::vector<double> u = vals(Generator(12).uniform({n}, -1.0, 3.0, DType::F64));
  double um = 0, lo = 1e9, hi = -1e9;
  for (double x : u) {
    um += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  CHECK(um / double(n) == doctest::Approx(1.0).epsilon(0.01));
  CHECK(lo > -1.0);
  CHECK(hi <= 3.0);

  std::vector<int64_t> ri = Generator(13).randint({1000}, -2, 3).to_vector<int64_t>();
  std::vector<int> count(5, 0);
  for (int64_t x : ri) {
    REQUIRE(x >= -2);
    REQUIRE(x < 3);
    ++count[x + 2];
  }
  for (int c : count) CHECK(c > 150);  // each of 5 values about 200 times
}

TEST_CASE("large CPU blocks are cached for reuse and memory accounting stays exact") {
  CpuBackend& cpu = cpu_backend();
  const size_t base = cpu.current_bytes();
  void* first = nullptr;
  {
    Tensor big = Tensor::empty({1 << 19});  // 2 MiB
    first = big.raw_data();
    CHECK(cpu.current_bytes() == base + (size_t(4) << 19));
    CHECK(cpu.peak_bytes() >= base + (size_t(4) << 19));
  }
  CHECK(cpu.current_bytes() == base);
  CHECK(cpu.cached_bytes() >= (size_t(4) << 19));
  {
    Tensor again = Tensor::empty({(1 << 19) - 100});  // same size class: the same block comes back
    CHECK(again.raw_data() == first);
  }
  cpu.empty_cache();
  CHECK(cpu.cached_bytes() == 0);
  CHECK(cpu.current_bytes() == base);
}
