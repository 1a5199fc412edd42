// Misuse of the runtime throws promoe::Error with a message naming the op and the offending
// shapes, dims, indices, dtypes or devices.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "autograd/ops.h"
#include "expect_error.h"

using namespace promoe;

namespace {

Tensor f32(const Shape& s) { return raw::zeros(s); }

}  // namespace

TEST_CASE("mismatched shapes in binary ops name the op and both shapes") {
  test::expect_error([] { add(f32({2, 3}), f32({4})); }, {"add", "[2, 3]", "[4]", "broadcast"});
  test::expect_error([] { raw::mul(f32({2, 3}), f32({3, 2})); }, {"mul", "[2, 3]", "[3, 2]"});
  test::expect_error([] { f32({5}) - f32({2, 4}); }, {"sub", "[5]", "[2, 4]"});
  test::expect_error([] { maximum(f32({2}), f32({3})); }, {"maximum", "[2]", "[3]"});
  test::expect_error([] { where(f32({2}), f32({3}), f32({3})); }, {"where", "[2]", "[3]"});
  test::expect_error([] { raw::add_(f32({3}), f32({2, 3})); }, {"add_", "[2, 3]", "[3]"});
  test::expect_error([] { mse_loss(f32({3}), f32({4})); }, {"mse_loss", "[3]", "[4]"});
  test::expect_error([] { raw::expand(f32({2, 3}), {4, 3}); }, {"expand", "[2, 3]", "[4, 3]"});
}

TEST_CASE("matmul shape errors") {
  test::expect_error([] { matmul(f32({2, 3}), f32({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]", "inner"});
  test::expect_error([] { matmul(f32({3}), f32({4})); }, {"matmul", "[3]", "[4]"});
  test::expect_error([] { matmul(f32({2, 2, 3}), f32({3, 3, 4})); }, {"matmul", "batch", "[2]", "[3]"});
  test::expect_error([] { matmul(raw::scalar(1.0), f32({3})); }, {"matmul", "[]"});
}

TEST_CASE("cat and stack shape errors") {
  test::expect_error([] { cat({f32({2, 3}), f32({2, 4})}, 0); }, {"cat", "[2, 3]", "[2, 4]", "dim 0"});
  test::expect_error([] { raw::cat({f32({2, 3}), f32({3})}, 0); }, {"cat", "[2, 3]", "[3]", "rank"});
  test::expect_error([] { raw::cat({}, 0); }, {"cat", "no tensors"});
  test::expect_error([] { stack({f32({2}), f32({3})}, 0); }, {"stack", "[2]", "[3]"});
}

TEST_CASE("dims out of range") {
  test::expect_error([] { sum(f32({2, 3}), {2}); }, {"sum", "dim 2", "2 dims"});
  test::expect_error([] { mean(f32({2, 3}), {-3}); }, {"mean", "dim -3"});
  test::expect_error([] { transpose(f32({2, 3}), 0, 5); }, {"transpose", "dim 5"});
  test::expect_error([] { softmax(f32({2, 3}), 2); }, {"softmax", "dim 2"});
  test::expect_error([] { log_softmax(f32({2, 3}), -3); }, {"log_softmax", "dim -3"});
  test::expect_error([] { cat({f32({2}), f32({2})}, 1); }, {"cat", "dim 1"});
  test::expect_error([] { narrow(f32({2, 3}), 1, 2, 2); }, {"narrow", "[2, 4)", "[2, 3]"});
  test::expect_error([] { select(f32({2, 3}), 0, 2); }, {"select", "index 2", "[2, 3]"});
  test::expect_error([] { squeeze(f32({2, 3}), 1); }, {"squeeze", "[2, 3]"});
  test::expect_error([] { unsqueeze(f32({2, 3}), 4); }, {"unsqueeze", "dim 4"});
  test::expect_error([] { permute(f32({2, 3}), {0, 0}); }, {"permute", "repeated"});
  test::expect_error([] { permute(f32({2, 3}), {0}); }, {"permute", "[2, 3]"});
  test::expect_error([] { max(f32({2, 3}), 2); }, {"max", "dim 2"});
  test::expect_error([] { topk(f32({2, 3}), 4); }, {"topk", "k = 4", "[2, 3]"});
  test::expect_error([] { sort(f32({2, 3}), 3); }, {"sort", "dim 3"});
  test::expect_error([] { index_select(f32({2, 3}), 2, raw::arange(1)); }, {"index_select", "dim 2"});
  test::expect_error([] { gather(f32({2, 3}), -3, raw::zeros({2, 3}, DType::I64)); }, {"gather", "dim -3"});
  test::expect_error([] { flatten(f32({2, 3}), 1, 0); }, {"flatten", "start_dim"});
  test::expect_error([] { split(f32({2, 3}), 0, 0); }, {"split", "positive"});
}

TEST_CASE("indices out of range") {
  Tensor w = f32({4, 3});
  test::expect_error(
      [] {
        raw::index_select(f32({4, 3}), 0, raw::from_vector<int64_t>({1, 4}, {2}));
      },
      {"index_select", "index 4", "size 4"});
  test::expect_error(
      [] {
        index_select(f32({4, 3}), 1, raw::from_vector<int64_t>({-1}, {1}));
      },
      {"index_select", "index -1", "size 3"});
  test::expect_error(
      [&] {
        embedding(w, raw::from_vector<int64_t>({0, 7}, {2}));
      },
      {"index_select", "index 7", "size 4"});
  test::expect_error(
      [] {
        gather(f32({2, 3}), 1, raw::from_vector<int64_t>({0, 3}, {2, 1}));
      },
      {"gather", "index 3", "size 3"});
  test::expect_error(
      [] {
        scatter_add(f32({2, 3}), 0, raw::from_vector<int64_t>({2}, {1, 1}), f32({1, 1}));
      },
      {"scatter_add", "index 2", "size 2"});
  test::expect_error(
      [] {
        index_add(f32({2, 3}), 0, raw::from_vector<int64_t>({5}, {1}), f32({1, 3}));
      },
      {"index_add", "index 5", "size 2"});
  test::expect_error([] { cross_entropy(f32({2, 3}), raw::from_vector<int64_t>({0, 3}, {2})); }, {"gather", "index 3"});
  test::expect_error([] { gather(f32({2, 3}), 1, raw::zeros({3, 1}, DType::I64)); }, {"gather", "[3, 1]", "[2, 3]"});
  test::expect_error([] { index_select(f32({2, 3}), 0, raw::zeros({1, 1}, DType::I64)); }, {"index_select", "1-D"});
}

TEST_CASE("dtype mismatches and unsupported dtypes") {
  Tensor a = f32({2}), d = raw::zeros({2}, DType::F64), i = raw::zeros({2}, DType::I64);
  test::expect_error([&] { add(a, d); }, {"add", "dtype", "f32[2]", "f64[2]"});
  test::expect_error(
      [&] {
        matmul(raw::zeros({2, 2}), raw::zeros({2, 2}, DType::F64));
      },
      {"matmul", "dtype", "f32", "f64"});
  test::expect_error([&] { cat({a, d}, 0); }, {"cat", "dtype"});
  test::expect_error([&] { index_select(a, 0, raw::zeros({1})); }, {"index_select", "i64", "f32[1]"});
  test::expect_error([&] { exp(i); }, {"exp", "i64[2]"});
  test::expect_error([&] { raw::div(i, i); }, {"div", "i64"});
  test::expect_error([&] { softmax(i, 0); }, {"softmax", "i64"});
  test::expect_error([&] { raw::add(raw::to(a, DType::BF16), raw::to(a, DType::BF16)); }, {"add", "bf16"});
  test::expect_error(
      [&] {
        Tensor t = raw::zeros({2}, DType::I64);
        t.set_requires_grad(true);
      },
      {"requires_grad", "i64"});
  test::expect_error([&] { cross_entropy(f32({2, 3}), raw::zeros({2})); }, {"cross_entropy", "i64"});
}

TEST_CASE("device errors are clear when no CUDA backend is present") {
  if (cuda_available()) return;  // this check is for CPU-only machines
  test::expect_error([] { raw::zeros({2}, DType::F32, Device::cuda()); }, {"cuda:0", "CUDA"});
  test::expect_error([] { raw::to(raw::zeros({2}), Device::cuda(1)); }, {"cuda:1", "CUDA"});
  test::expect_error([] { Generator(1).randn({2}, DType::F32, Device::cuda()); }, {"cuda:0"});
  test::expect_error([] { parse_device("gpu"); }, {"gpu", "cpu", "cuda"});
  CHECK(parse_device("cuda:3") == Device::cuda(3));
  CHECK(parse_device("cpu") == Device::cpu());
}

TEST_CASE("reshape to a wrong number of elements") {
  test::expect_error([] { reshape(f32({2, 3}), {4, 2}); }, {"reshape", "[2, 3]", "6 elements", "[4, 2]"});
  test::expect_error([] { raw::reshape(f32({2, 3}), {-1, 4}); }, {"reshape", "[2, 3]", "[-1, 4]"});
  test::expect_error([] { raw::reshape(f32({2, 3}), {-1, -1}); }, {"reshape", "-1"});
  test::expect_error([] { raw::from_vector<float>({1, 2, 3}, {2, 2}); }, {"from_vector", "3 values", "[2, 2]"});
}

TEST_CASE("autograd misuse") {
  Tensor x = raw::ones({2, 2}, DType::F64);
  x.set_requires_grad(true);
  Tensor y = sum(x * x);
  y.backward();
  test::expect_error([&] { y.backward(); }, {"backward", "second time", "retain_graph"});
  test::expect_error([&] { (x * 2.0).backward(); }, {"backward", "non-scalar", "[2, 2]"});
  test::expect_error([] { raw::ones({2}).backward(); }, {"backward", "does not require grad"});
  Tensor z = x * 2.0;
  test::expect_error([&] { z.backward(raw::ones({3}, DType::F64)); }, {"backward", "[3]", "[2, 2]"});
  test::expect_error([&] { z.set_requires_grad(true); }, {"requires_grad", "leaf"});
  test::expect_error([] { Tensor().shape(); }, {"undefined"});
}
