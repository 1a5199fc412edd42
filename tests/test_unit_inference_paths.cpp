// The inference paths of the linear layers, bit for bit those of training's forward: products by
// row-major copies of the weights (nn/transposed_weights.h; the copy from 16 rows up, the view
// below, one copy per weight, nothing outside a scope), and bias + GELU written over its input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "autograd/ops.h"
#include "nn/functional.h"
#include "nn/fused_bias_gelu.h"
#include "nn/transposed_weights.h"

using namespace promoe;

namespace {
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  return a.shape() == b.shape() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}
}  // namespace

TEST_CASE("transposed weights: linear and linear_gelu bit for bit at every row count, one copy per weight") {
  Generator gen(11);
  NoGradGuard ng;
  // The model's (out, in) shapes: qkv, proj, fc1, fc2, adaLN.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{384, 128}, {128, 128}, {512, 128}, {128, 512}, {768, 128}};
  for (auto [out, in] : shapes) {
    const Tensor w = gen.randn({out, in}) * 0.1, b = gen.randn({out});
    nn::TransposedWeights table;
    for (int64_t rows : {1, 7, 15, 16, 17, 64, 1000}) {
      const Tensor x = gen.randn({rows, in});
      const Tensor want = nn::linear(x, w, b), want_gelu = nn::linear_gelu(x, w, b);
      const nn::TransposedWeightsScope scope(&table);
      INFO(out, "x", in, " weight, ", rows, " rows");
      CHECK(bitwise_equal(nn::linear(x, w, b), want));
      CHECK(bitwise_equal(nn::linear_gelu(x, w, b), want_gelu));
      CHECK(nn::weight_transposed_for(w, rows).is_contiguous() == (rows >= 16));
    }
    const nn::TransposedWeightsScope scope(&table);
    CHECK(table.of(w).raw_data() == table.of(w).raw_data());  // made once, then reused
    CHECK(bitwise_equal(table.of(w), raw::contiguous(raw::transpose(w, 0, 1))));
  }
  CHECK_FALSE(nn::weight_transposed_for(gen.randn({8, 4}), 64).is_contiguous());  // no table: the view
}

TEST_CASE("bias + GELU in place: the values of the fused op with its own output, and of the reference") {
  Generator gen(12);
  NoGradGuard ng;
  for (auto [rows, n] : std::vector<std::pair<int64_t, int64_t>>{{1, 5}, {64, 512}, {1000, 256}}) {
    const Tensor pre = gen.randn({rows, n}) * 2.0, b = gen.randn({n});
    const Tensor a = raw::contiguous(pre + 0.0), c = raw::contiguous(pre + 0.0), r = raw::contiguous(pre + 0.0);
    const Tensor want = nn::fused::bias_gelu_(a, b);
    const Tensor got = nn::fused::bias_gelu_inplace_(c, b);
    INFO(rows, "x", n);
    CHECK(got.raw_data() == c.raw_data());
    CHECK(bitwise_equal(got, want));
    nn::fused::bias_gelu_reference(r, r, b);  // the composed reference, aliased the same way
    const std::vector<float> vr = r.to_vector<float>(), vw = want.to_vector<float>();
    double worst = 0;
    for (size_t i = 0; i < vr.size(); ++i) worst = std::max(worst, double(std::fabs(vr[i] - vw[i])));
    CHECK(worst < 1e-5);
  }
}
