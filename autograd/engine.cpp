// The backward engine: a topological walk from the root's node, summing the gradients that reach a
// node along several paths before running it, then releasing it unless the graph is retained.
#include <unordered_map>

#include "autograd/node.h"
#include "tensor/ops.h"

namespace promoe {

namespace {
thread_local bool g_grad_enabled = true;
thread_local GradReadyHook g_grad_ready;

void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? raw::add(slot, g) : g; }

// True when nothing but the engine can see `t`: one handle on a dense storage of its own. A leaf
// may then adopt it as its gradient without a copy (a weight gradient fresh from its GEMM). A
// view into a larger gradient, or a tensor a closure still holds, is copied instead, so that a
// leaf's gradient never aliases anything else.
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1 && t.is_contiguous() && t.offset() == 0 &&
         t.storage()->nbytes() == size_t(t.numel()) * dtype_size(t.dtype());
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

GradReadyHookGuard::GradReadyHookGuard(GradReadyHook hook) : prev_(std::move(g_grad_ready)) {
  g_grad_ready = std::move(hook);
}
GradReadyHookGuard::~GradReadyHookGuard() { g_grad_ready = std::move(prev_); }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}
bool needs_grad(std::initializer_list<Tensor> inputs) { return needs_grad(std::vector<Tensor>(inputs)); }

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_out) {
  Tensor leaf_t(leaf);
  const bool adopt = grad_out.shape() == leaf_t.shape() && exclusively_owned(grad_out);
  Tensor g = adopt ? grad_out : raw::clone(raw::sum_to(grad_out, leaf_t.shape()));
  Tensor have = leaf_t.grad();
  leaf_t.set_grad(have.defined() ? raw::add(have, g) : g);
  return {};
}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_out) {
  PROMOE_CHECK(fn, "backward through ", name,
               " a second time: its saved tensors were freed "
               "(pass retain_graph = true to the first backward)");
  return fn(grad_out);
}

Tensor record(const Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  for (const Tensor& in : inputs) {
    if (!in.defined() || !in.requires_grad()) {
      node->next.push_back(nullptr);
    } else if (in.grad_fn()) {
      node->next.push_back(in.grad_fn());
    } else {
      node->next.push_back(std::make_shared<AccumulateGrad>(in.impl_ptr()));
    }
  }
  Tensor result = out.detach();  // a fresh handle, so an op that returned an input never rewires it
  result.set_grad_fn(std::move(node));
  return result;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  PROMOE_CHECK(requires_grad(), "backward: tensor ", describe(*this), " does not require grad");
  Tensor seed = grad;
  if (!seed.defined()) {
    PROMOE_CHECK(numel() == 1, "backward: a gradient must be given for non-scalar ", describe(*this));
    seed = raw::ones(shape(), dtype(), device());
  }
  PROMOE_CHECK(seed.shape() == shape(), "backward: gradient ", describe(seed), " does not match ", describe(*this));
  std::shared_ptr<Node> root = grad_fn() ? grad_fn() : std::make_shared<AccumulateGrad>(impl_ptr());

  // Count, for every reachable node, how many edges lead into it, and for every leaf how many
  // AccumulateGrad nodes feed it (each use of a leaf in an op records one).
  std::unordered_map<Node*, int> deps;
  std::unordered_map<TensorImpl*, int> leaf_nodes;
  std::vector<Node*> stack{root.get()};
  deps[root.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& nx : n->next) {
      if (!nx) continue;
      if (deps.find(nx.get()) == deps.end()) {
        deps[nx.get()] = 0;
        stack.push_back(nx.get());
        if (auto* acc = dynamic_cast<AccumulateGrad*>(nx.get())) ++leaf_nodes[acc->leaf.get()];
      }
      ++deps[nx.get()];
    }
  }

  if (auto* acc = dynamic_cast<AccumulateGrad*>(root.get())) ++leaf_nodes[acc->leaf.get()];
  const GradReadyHook hook = g_grad_ready;

  std::unordered_map<Node*, Tensor> pending{{root.get(), seed}};
  std::vector<Node*> ready{root.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    // A node that no gradient reached still releases its dependants.
    auto it = pending.find(n);
    std::vector<Tensor> grads;
    if (it != pending.end()) {
      Tensor g = std::move(it->second);
      pending.erase(it);
      grads = n->apply(g);
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* nx = n->next[i].get();
      if (!nx) continue;
      if (i < grads.size() && grads[i].defined()) accumulate(pending[nx], grads[i]);
      if (--deps[nx] == 0) ready.push_back(nx);
    }
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n); acc && --leaf_nodes[acc->leaf.get()] == 0 && hook)
      hook(Tensor(acc->leaf));
    if (!retain_graph) n->release();
  }
}

}  // namespace promoe
