// The differentiable tensor API that models use. Each op computes through tensor/ops.h and, when an
// input requires grad, records its derivative (autograd/node.h). Gradient checks for every op that
// has a derivative are in tests/test_gradcheck_*.cpp.
#pragma once
#include <vector>

#include "autograd/node.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace promoe {

// Creation (no gradients involved).
using raw::arange;
using raw::from_vector;
using raw::full;
using raw::ones;
using raw::scalar;
using raw::zeros;

// Views and layout. Gradients flow through all of them.
Tensor reshape(const Tensor& a, Shape shape);
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor expand(const Tensor& a, const Shape& shape);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor contiguous(const Tensor& a);
Tensor to(const Tensor& a, DType dtype);
Tensor to(const Tensor& a, Device device);

// Elementwise arithmetic with broadcasting.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double p);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator*(double s, const Tensor& a);
Tensor operator-(const Tensor& a);

// Elementwise functions.
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor silu(const Tensor& a);
Tensor gelu_tanh(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor square(const Tensor& a);
Tensor clamp(const Tensor& a, double lo, double hi);  // gradient 1 strictly inside, 0 outside
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Comparisons: not differentiable; 1/0 in the inputs' dtype.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// Reductions (empty dims = all).
Tensor sum(const Tensor& a, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, std::vector<int64_t> dims = {}, bool keepdim = false);
raw::ValuesIndices max(const Tensor& a, int64_t dim, bool keepdim = false);  // values differentiable
Tensor amax(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);

// Linear algebra and normalisation.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);
// LayerNorm over the last dim; weight and bias are optional (undefined = no affine).
Tensor layer_norm(const Tensor& a, double eps, const Tensor& weight = Tensor(), const Tensor& bias = Tensor());
// a / max(||a||_2, eps) along `dim` (torch.nn.functional.normalize).
Tensor normalize(const Tensor& a, int64_t dim, double eps = 1e-12);

// Losses (mean reduction).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);  // logits (N, C), targets i64 (N)
Tensor mse_loss(const Tensor& pred, const Tensor& target);

// Joining and splitting.
Tensor cat(const std::vector<Tensor>& parts, int64_t dim);
Tensor stack(const std::vector<Tensor>& parts, int64_t dim);
std::vector<Tensor> split(const Tensor& a, int64_t size, int64_t dim);  // pieces of `size` (last may be smaller)
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim);

// Indexing. Gradients flow to the data operands, never to indices.
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
Tensor embedding(const Tensor& weight, const Tensor& indices);  // (V, D), i64 any shape -> (..., D)
raw::ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim = -1, bool largest = true);
raw::ValuesIndices sort(const Tensor& a, int64_t dim = -1, bool descending = false);

}  // namespace promoe
