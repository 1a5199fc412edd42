// Bucketed gradient averaging.
#include "dist/grad_average.h"

#include "tensor/ops.h"

namespace promoe::dist {

GradientAverager::GradientAverager(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  for (int64_t i = int64_t(params_.size()) - 1; i >= 0; --i) {
    const Tensor& p = params_[size_t(i)];
    const int64_t bytes = p.numel() * int64_t(dtype_size(p.dtype()));
    const bool fits =
        !buckets_.empty() &&
        (bucket_bytes <= 0 || buckets_.back().numel * int64_t(dtype_size(p.dtype())) + bytes <= bucket_bytes) &&
        params_[size_t(buckets_.back().members.front())].dtype() == p.dtype() &&
        params_[size_t(buckets_.back().members.front())].device() == p.device();
    if (!fits) buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.members.push_back(i);
    b.offsets.push_back(b.numel);
    b.numel += p.numel();
    where_[p.impl_ptr().get()] = {int64_t(buckets_.size()) - 1, false};
    bytes_ += bytes;
  }
  for (Bucket& b : buckets_) {
    const Tensor& first = params_[size_t(b.members.front())];
    b.flat = Tensor::empty({b.numel}, first.dtype(), first.device());
    b.pending = int64_t(b.members.size());
  }
}

void GradientAverager::start(Bucket& b) {
  for (size_t m = 0; m < b.members.size(); ++m) {
    const Tensor& p = params_[size_t(b.members[m])];
    Tensor slot = raw::narrow(b.flat, 0, b.offsets[m], p.numel());
    const Tensor g = p.grad();
    if (g.defined())
      raw::copy_(slot, raw::reshape(g, {p.numel()}));
    else
      raw::fill_(slot, 0.0);
  }
  b.work = comm_.all_reduce_async(b.flat, ReduceOp::Sum);
}

void GradientAverager::progress() {
  for (size_t i = 0; i < next_; ++i)
    if (buckets_[i].work) buckets_[i].work->test();
}

void GradientAverager::ready(const Tensor& param) {
  auto it = where_.find(param.impl_ptr().get());
  if (it == where_.end() || it->second.second) return;
  it->second.second = true;
  --buckets_[size_t(it->second.first)].pending;
  while (next_ < buckets_.size() && buckets_[next_].pending == 0) {
    start(buckets_[next_]);
    ++next_;
    ++started_early_;
  }
  progress();
}

void GradientAverager::finish() {
  for (; next_ < buckets_.size(); ++next_) start(buckets_[next_]);
  const double inv = 1.0 / double(comm_.size());
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.work.reset();
    for (size_t m = 0; m < b.members.size(); ++m) {
      Tensor& p = params_[size_t(b.members[m])];
      p.set_grad(raw::reshape(raw::mul_scalar(raw::narrow(b.flat, 0, b.offsets[m], p.numel()), inv), p.shape()));
    }
    b.pending = int64_t(b.members.size());
  }
  for (auto& [impl, w] : where_) w.second = false;
  next_ = 0;
  overlapped_ = started_early_;
  started_early_ = 0;
}

}  // namespace promoe::dist
