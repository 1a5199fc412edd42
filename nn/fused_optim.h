// The optimizer's fused ops (tensor/fused.h): the AdamW update of one tensor and of a whole
// parameter list, the EMA of weights over a list, and the sum of squares of a list (a global
// gradient norm squared). Fast kernels: cpu/optim.cpp, cuda/elementwise.cu (adamw), cuda/reduce.cu
// (sum of squares). All operands are contiguous float tensors; slot i of every list has one shape.
#pragma once
#include <vector>

#include "tensor/fused.h"
#include "tensor/ops.h"

namespace promoe::nn::fused {

// One AdamW step in place on param, m, v (PyTorch semantics), the gradient read as grad * grad_scale
// (gradient clipping folded into the step).
void adamw_reference(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                     double beta2, double eps, double weight_decay, int64_t step, double grad_scale);
inline const FusedOp<decltype(adamw_reference)> adamw_op{"optim.adamw", &adamw_reference};

// adamw of every slot i (params[i], grads[i], ms[i], vs[i]); the reference runs adamw_op per slot,
// a fast kernel may make one pass over the whole list (a bank of many small expert tensors).
void adamw_list_reference(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                          const std::vector<Tensor>& ms, const std::vector<Tensor>& vs, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int64_t step, double grad_scale);
inline const FusedOp<decltype(adamw_list_reference)> adamw_list_op{"optim.adamw_list", &adamw_list_reference};

// shadows[i] = decay * shadows[i] + (1 - decay) * params[i].
void ema_list_reference(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay);
inline const FusedOp<decltype(ema_list_reference)> ema_list_op{"optim.ema_list", &ema_list_reference};

// The sum of the squares of every element of every tensor, accumulated in double.
double sum_of_squares_reference(const std::vector<Tensor>& ts);
inline const FusedOp<decltype(sum_of_squares_reference)> sum_of_squares_op{"optim.sum_of_squares",
                                                                           &sum_of_squares_reference};

// Checked entry points: float tensors on one device (any layout for the read-only operands).
double sum_of_squares(const std::vector<Tensor>& ts);
// shadows contiguous; params of the same shapes and dtypes.
void ema_update_(const std::vector<Tensor>& shadows, const std::vector<Tensor>& params, double decay);

}  // namespace promoe::nn::fused
