// Inference through row-major copies of the weights (nn/transposed_weights.h): linear and
// linear_gelu give the values of the weight's transposed view bit for bit, at every row count (the
// copy from 16 rows up, the view below), one copy per weight, and nothing changes outside a scope.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "autograd/ops.h"
#include "nn/functional.h"
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
