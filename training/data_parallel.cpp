// Data-parallel glue between the trainer, the autograd engine and the communicator.
#include "training/data_parallel.h"

#include <cmath>
#include <unordered_set>

#include "autograd/node.h"
#include "nn/fused_optim.h"
#include "tensor/ops.h"

namespace promoe::training {

DataParallel::DataParallel(const NamedTensors& params, Device device, int64_t global_batch, int64_t bucket_bytes,
                           const std::vector<Tensor>& rank_local)
    : comm_(dist::world()), device_(dist::for_device(device)), local_(rank_local) {
  std::unordered_set<const TensorImpl*> local;
  for (const Tensor& t : rank_local) local.insert(t.impl_ptr().get());
  for (const auto& [name, p] : params)
    if (!local.count(p.impl_ptr().get())) params_.push_back(p);
  shard_ = rank_shard(global_batch, comm_.rank(), comm_.size());
  if (comm_.size() > 1) averager_ = std::make_unique<dist::GradientAverager>(device_, params_, bucket_bytes);
}

void DataParallel::broadcast_parameters() {
  if (comm_.size() == 1) return;
  NoGradGuard no_grad;
  for (Tensor& p : params_) device_.broadcast(p, 0);
}

void DataParallel::backward(const Tensor& loss) {
  if (!averager_) {
    loss.backward();
    return;
  }
  {
    GradReadyHookGuard hook([this](const Tensor& leaf) { averager_->ready(leaf); });
    loss.backward();
  }
  averager_->finish();
  NoGradGuard no_grad;
  const double inv = 1.0 / double(comm_.size());
  for (Tensor& p : local_) {
    const Tensor g = p.grad();
    p.set_grad(g.defined() ? raw::mul_scalar(g, inv) : raw::zeros(p.shape(), p.dtype(), p.device()));
  }
}

nn::GradClip DataParallel::grad_clip(const NamedTensors& params, double max_norm) {
  if (local_.empty() || comm_.size() == 1) return nn::grad_clip(params, max_norm);
  std::vector<Tensor> replicated, own;
  for (const Tensor& p : params_)
    if (p.grad().defined()) replicated.push_back(p.grad());
  for (const Tensor& p : local_) own.push_back(p.grad());
  Tensor own_sum = raw::from_vector(std::vector<double>{nn::fused::sum_of_squares(own)}, {1});
  comm_.all_reduce(own_sum);
  return nn::clip_for_norm(std::sqrt(nn::fused::sum_of_squares(replicated) + own_sum.item()), max_norm);
}

Tensor DataParallel::RanksSum::sum(const Tensor& t) {
  Tensor out = raw::clone(t);
  dist::for_device(t.device()).all_reduce(out);
  return out;
}

std::vector<double> DataParallel::mean(std::vector<double> values) {
  if (comm_.size() == 1 || values.empty()) return values;
  Tensor t = raw::from_vector(values, {int64_t(values.size())});
  comm_.all_reduce(t);
  values = t.to_vector<double>();
  for (double& v : values) v /= double(comm_.size());
  return values;
}

}  // namespace promoe::training
