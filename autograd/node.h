// The autograd graph. Every differentiable op that sees an input requiring grad records a Node on
// its output: the node knows how to turn the output's gradient into its inputs' gradients and
// points at the nodes that produced those inputs (AccumulateGrad for leaves).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe {

struct Node {
  explicit Node(std::string n) : name(std::move(n)) {}
  virtual ~Node() = default;
  // Gradients for each input (undefined where an input needs none), given the output's gradient.
  virtual std::vector<Tensor> apply(const Tensor& grad_out) = 0;
  // Drops saved tensors once backward has passed (unless the graph is retained).
  virtual void release() {}

  std::string name;
  std::vector<std::shared_ptr<Node>> next;  // one per input; null where no gradient flows
};

// Adds incoming gradients into a leaf tensor's .grad.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& grad_out) override;
  std::shared_ptr<TensorImpl> leaf;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

// A node whose backward is a closure: how every op, fused or not, registers its derivative.
struct FunctionNode final : Node {
  FunctionNode(std::string n, BackwardFn f) : Node(std::move(n)), fn(std::move(f)) {}
  std::vector<Tensor> apply(const Tensor& grad_out) override;
  void release() override { fn = nullptr; }
  BackwardFn fn;
};

// Thread-local switch: while disabled, ops record nothing (sampling, optimizer updates).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Called by backward on the thread that runs it, once for every leaf the graph reaches, as soon as
// the leaf's gradient for this backward is final (the last of its AccumulateGrad nodes has run, so
// every path into it has been summed into .grad; .grad stays undefined when no gradient arrived).
// Data-parallel training starts reducing a gradient there while backward goes on. A hook is
// installed for the current thread while its guard lives.
using GradReadyHook = std::function<void(const Tensor& leaf)>;
class GradReadyHookGuard {
 public:
  explicit GradReadyHookGuard(GradReadyHook hook);
  ~GradReadyHookGuard();
  GradReadyHookGuard(const GradReadyHookGuard&) = delete;
  GradReadyHookGuard& operator=(const GradReadyHookGuard&) = delete;

 private:
  GradReadyHook prev_;
};

// True when grad mode is on and some input requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a backward closure to `out`, the result of an op on `inputs`, and returns the tensor to
// hand to the caller. The closure must capture saved tensors by `detach()`ed copies so that the
// graph holds no cycles. Without grad, returns `out` untouched.
Tensor record(const Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward);

}  // namespace promoe
