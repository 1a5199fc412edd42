// Raw tensor operations: argument checks, output allocation and dispatch to the device backend.
// Nothing here records gradients; autograd/ops.h wraps these into the differentiable API.
#pragma once
#include <vector>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace promoe::raw {

// Creation.
Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
Tensor arange(int64_t n, DType dtype = DType::I64, Device device = Device::cpu());  // 0..n-1
Tensor arange(double start, double end, double step, DType dtype, Device device = Device::cpu());
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::cpu());

// Conversion and copies.
Tensor to(const Tensor& a, DType dtype, Device device);
Tensor to(const Tensor& a, DType dtype);
Tensor to(const Tensor& a, Device device);
Tensor contiguous(const Tensor& a);                // `a` itself when already contiguous
Tensor clone(const Tensor& a);                     // always a fresh contiguous copy
void copy_(const Tensor& dst, const Tensor& src);  // src broadcast to dst's shape, any devices/dtypes
void fill_(const Tensor& dst, double value);

// Views (share storage).
Tensor reshape(const Tensor& a, Shape shape);  // a view when the strides allow, else a copy; one -1 allowed
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& a, int64_t dim, int64_t index);  // drops `dim`
Tensor expand(const Tensor& a, const Shape& shape);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor unsqueeze(const Tensor& a, int64_t dim);

// Elementwise, with NumPy broadcasting for binary ops (operands of one dtype). Comparisons return
// 1 or 0 in that dtype; where() takes a condition of any dtype (non-zero = true).
Tensor unary(UnaryOp op, const Tensor& a, double p0 = 0, double p1 = 0);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor mul_scalar(const Tensor& a, double s);
Tensor add_scalar(const Tensor& a, double s);
void add_(const Tensor& dst, const Tensor& src);  // dst += src (src broadcast to dst)

// Reductions over `dims` (empty = all dims).
Tensor reduce(ReduceOp op, const Tensor& a, std::vector<int64_t> dims, bool keepdim);
Tensor sum(const Tensor& a, std::vector<int64_t> dims = {}, bool keepdim = false);
// Sums a broadcast result back to `shape` (the reverse of broadcasting), for gradients.
Tensor sum_to(const Tensor& a, const Shape& shape);
struct ValuesIndices {
  Tensor values, indices;
};
ValuesIndices max_dim(const Tensor& a, int64_t dim, bool keepdim);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);

// Matrix product with PyTorch's rules: 1-D, 2-D and batched (broadcast batch dims).
Tensor matmul(const Tensor& a, const Tensor& b);
// out = alpha * a @ b written into the view `out` (batch..., M, N) from a (batch..., M, K) and
// b (batch..., K, N) of the same batch shape: for ops that want a product laid out in place
// (heads merged into tokens, gradients into one qkv buffer) instead of copied there.
void matmul_into(const Tensor& out, const Tensor& a, const Tensor& b, double alpha = 1.0);
// Normalisation over the last dim / `dim`.
Tensor softmax(const Tensor& a, int64_t dim, bool log = false);
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);
struct LayerNormResult {
  Tensor out, mean, rstd;  // out like a; mean, rstd shaped a.shape[:-1]
};
LayerNormResult layer_norm(const Tensor& a, double eps);
Tensor layer_norm_backward(const Tensor& grad_out, const Tensor& a, const Tensor& mean, const Tensor& rstd);

// Indexing.
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);  // out-of-place
void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);  // out-of-place
ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim = -1, bool largest = true);
ValuesIndices sort(const Tensor& a, int64_t dim = -1, bool descending = false);

// Joining.
Tensor cat(const std::vector<Tensor>& parts, int64_t dim);
Tensor stack(const std::vector<Tensor>& parts, int64_t dim);

// Short op names ("add", "exp") for error messages.
const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);

// Argument checks shared with autograd/ops and the fused ops' entry points (nn/, moe/).
void check_defined(const Tensor& t, const char* op);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
// f32 or f64 (bf16 is a storage format, i64 holds indices).
void check_floating(const Tensor& a, const char* op);
void check_index_tensor(const Tensor& index, const char* op);
DType promote(DType a, DType b);

}  // namespace promoe::raw
