// The feature network's training loop.
#include "eval/train_features.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "autograd/ops.h"
#include "nn/optim.h"

namespace promoe::eval {

namespace {

// The images of `idx`, each mirrored left-right where flip[i] (the training set's augmentation).
Tensor batch_images(const Tensor& images, const std::vector<int64_t>& idx, const std::vector<bool>& flip) {
  Tensor b = raw::index_select(images, 0, raw::from_vector<int64_t>(idx, {int64_t(idx.size())}));
  const int64_t per = b.numel() / b.size(0), w = b.size(3);
  float* x = b.data<float>();
  for (size_t i = 0; i < idx.size(); ++i) {
    if (!flip[i]) continue;
    for (float* row = x + int64_t(i) * per; row < x + int64_t(i + 1) * per; row += w) std::reverse(row, row + w);
  }
  return b;
}

}  // namespace

FeatureTrainResult train_feature_net(FeatureNet& net, const ImageSet& train, const ImageSet& test,
                                     const FeatureTrainOptions& o) {
  PROMOE_CHECK(train.labelled() && test.labelled(), "train features: the training and test sets need labels");
  check_labels(train, net.config.num_classes);
  check_labels(test, net.config.num_classes);
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = train.size(), steps_per_epoch = (n + o.batch - 1) / o.batch, total = o.epochs * steps_per_epoch;
  NamedTensors params = net.named_parameters();
  nn::AdamW opt(params, {o.lr, 0.9, 0.999, 1e-8, o.weight_decay});
  Generator dropout_gen(o.seed + 1), flip_gen(o.seed + 2);
  FeatureTrainResult result;
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    net.train(true);
    const std::vector<int64_t> order = sample_indices(n, n, o.seed * 1000003 + uint64_t(epoch));
    double loss_sum = 0;
    for (int64_t at = 0; at < n; at += o.batch) {
      const int64_t b = std::min(o.batch, n - at);
      std::vector<int64_t> idx(order.begin() + at, order.begin() + at + b);
      Tensor coin = flip_gen.uniform({b});
      std::vector<bool> flip(b);
      for (int64_t i = 0; i < b; ++i) flip[i] = o.flip && coin.data<float>()[i] < 0.5f;
      Tensor x = batch_images(train.images, idx, flip);
      Tensor y = raw::index_select(train.labels, 0, raw::from_vector<int64_t>(idx, {b}));
      Tensor loss = cross_entropy(net.forward(x, &dropout_gen).logits, y);
      loss.backward();
      // Cosine decay from lr to 0 over the whole run.
      opt.lr_scale = 0.5 * (1.0 + std::cos(M_PI * double(step) / double(total)));
      opt.step();
      opt.zero_grad();
      ++step;
      loss_sum += loss.item() * double(b);
      if (o.progress && (step % 20 == 0 || at + b == n))
        std::fprintf(stderr, "\repoch %lld/%lld  step %lld/%lld  loss %.4f ", (long long)epoch + 1, (long long)o.epochs,
                     (long long)step, (long long)total, loss.item());
    }
    net.train(false);
    result.epoch_loss.push_back(loss_sum / double(n));
    result.epoch_test_accuracy.push_back(classification_accuracy(net, test));
    if (o.progress)
      std::fprintf(stderr, "\repoch %lld/%lld  train loss %.4f  test accuracy %.4f\n", (long long)epoch + 1,
                   (long long)o.epochs, result.epoch_loss.back(), result.epoch_test_accuracy.back());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

double classification_accuracy(const FeatureNet& net, const ImageSet& set) {
  PROMOE_CHECK(set.labelled(), "classification accuracy: the set ", set.source, " has no labels");
  Embedding e = embed(net, set.images);
  const int64_t *p = e.predicted.data<int64_t>(), *y = set.labels.data<int64_t>();
  int64_t right = 0;
  for (int64_t i = 0; i < set.size(); ++i) right += p[i] == y[i];
  return double(right) / double(set.size());
}

}  // namespace promoe::eval
