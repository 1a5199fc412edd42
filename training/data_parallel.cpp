// Data-parallel glue between the trainer, the autograd engine and the communicator.
#include "training/data_parallel.h"

#include "autograd/node.h"
#include "tensor/ops.h"

namespace promoe::training {

DataParallel::DataParallel(const NamedTensors& params, Device device, int64_t global_batch, int64_t bucket_bytes)
    : comm_(dist::world()), device_(dist::for_device(device)) {
  for (const auto& [name, p] : params) params_.push_back(p);
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
