// The feature CNN: layers, forward, batched embedding and its safetensors file.
#include "eval/feature_net.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "eval/conv.h"
#include "io/safetensors.h"

namespace promoe::eval {

namespace {
constexpr const char* kFormat = "promoe-feature-net-1";

// Inverted dropout's multiplier: 0 with probability p, else 1 / (1 - p); f32 on the CPU.
Tensor dropout_scale(Generator& gen, const Shape& shape, double p) {
  Tensor u = gen.uniform(shape);
  float* v = u.data<float>();
  const float keep = float(1.0 / (1.0 - p));
  for (int64_t i = 0; i < u.numel(); ++i) v[i] = v[i] < p ? 0.0f : keep;
  return u;
}
}  // namespace

std::string FeatureNetConfig::to_json() const {
  nlohmann::json j{{"in_channels", in_channels}, {"image_size", image_size}, {"num_classes", num_classes},
                   {"width1", width1},           {"width2", width2},         {"width3", width3},
                   {"feature_dim", feature_dim}, {"dropout", dropout}};
  return j.dump();
}

FeatureNetConfig FeatureNetConfig::from_json(const std::string& text) {
  FeatureNetConfig c;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    c.in_channels = j.at("in_channels").get<int64_t>();
    c.image_size = j.at("image_size").get<int64_t>();
    c.num_classes = j.at("num_classes").get<int64_t>();
    c.width1 = j.at("width1").get<int64_t>();
    c.width2 = j.at("width2").get<int64_t>();
    c.width3 = j.at("width3").get<int64_t>();
    c.feature_dim = j.at("feature_dim").get<int64_t>();
    c.dropout = j.at("dropout").get<double>();
  } catch (const nlohmann::json::exception& e) {
    PROMOE_FAIL("feature net config: ", e.what());
  }
  c.validate();
  return c;
}

void FeatureNetConfig::validate() const {
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  PROMOE_CHECK(in(in_channels, 1, 4), "feature net: in_channels must be in [1, 4], got ", in_channels);
  PROMOE_CHECK(in(image_size, 8, 256) && image_size % 8 == 0,
               "feature net: image_size must be a multiple of 8 in [8, 256], got ", image_size);
  PROMOE_CHECK(in(num_classes, 2, 1000), "feature net: num_classes must be in [2, 1000], got ", num_classes);
  PROMOE_CHECK(in(width1, 1, 1024) && in(width2, 1, 1024) && in(width3, 1, 1024) && in(feature_dim, 2, 4096),
               "feature net: widths must be in [1, 1024] and feature_dim in [2, 4096]");
  PROMOE_CHECK(dropout >= 0 && dropout < 1, "feature net: dropout must be in [0, 1), got ", dropout);
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride_, int64_t pad_, Generator& gen)
    : stride(stride_),
      pad(pad_),
      weight(register_parameter("weight", raw::zeros({out, k, k, in}))),
      bias(register_parameter("bias", raw::zeros({out}))) {
  const double bound = std::sqrt(6.0 / double(k * k * in));  // He uniform, for the ReLU that follows
  NoGradGuard ng;
  raw::copy_(weight, gen.uniform(weight.shape(), -bound, bound));
}

Tensor Conv2d::forward(const Tensor& x) const { return conv2d(x, weight, bias, stride, pad); }

FeatureNet::FeatureNet(const FeatureNetConfig& c, uint64_t seed) : config(c) {
  c.validate();
  Generator gen(seed);
  stem = register_module("stem", std::make_shared<Conv2d>(c.in_channels, c.width1, 2, 2, 0, gen));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(c.width1, c.width2, 3, 1, 1, gen));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(c.width2, c.width3, 3, 1, 1, gen));
  const int64_t side = c.image_size / 8;
  fc = register_module("fc", std::make_shared<nn::Linear>(side * side * c.width3, c.feature_dim, true, gen));
  head = register_module("head", std::make_shared<nn::Linear>(c.feature_dim, c.num_classes, true, gen));
}

FeatureNet::Output FeatureNet::forward(const Tensor& images, Generator* dropout_gen) const {
  PROMOE_CHECK(images.dim() == 4 && images.size(1) == config.in_channels && images.size(2) == config.image_size &&
                   images.size(3) == config.image_size,
               "feature net: expected images (B, ", config.in_channels, ", ", config.image_size, ", ",
               config.image_size, "), got ", describe(images));
  Tensor h = permute(images, {2, 3, 0, 1});  // pixel-major (S, S, B, C), see eval/conv.h
  h = relu(stem->forward(h));
  for (const auto& conv : {conv1, conv2}) h = max_pool2d(relu(conv->forward(h)), 2);
  Tensor features = relu(fc->forward(flatten(permute(h, {2, 0, 1, 3}), 1)));  // (B, S/8 * S/8 * w3)
  Tensor z = features;
  if (is_training() && config.dropout > 0) {
    PROMOE_CHECK(dropout_gen, "feature net: training mode needs a generator for dropout");
    z = features *
        raw::to(dropout_scale(*dropout_gen, features.shape(), config.dropout), features.dtype(), features.device());
  }
  return {features, head->forward(z)};
}

void save_feature_net(const std::string& path, const FeatureNet& net, const std::map<std::string, std::string>& extra) {
  io::Metadata meta = extra;
  meta["format"] = kFormat;
  meta["config"] = net.config.to_json();
  io::write_safetensors(path, net.state_dict(), meta);
}

std::shared_ptr<FeatureNet> load_feature_net(const std::string& path) {
  io::SafeTensors file = io::read_safetensors(path);
  PROMOE_CHECK(file.has_metadata("format") && file.metadata("format") == kFormat, "feature net ", path,
               ": not a promoe feature-net file (metadata 'format' is not ", kFormat, ")");
  auto net = std::make_shared<FeatureNet>(FeatureNetConfig::from_json(file.metadata("config")), 0);
  for (auto& [name, t] : net->state_dict()) {
    PROMOE_CHECK(file.has(name), "feature net ", path, ": missing tensor '", name, "'");
    const Tensor& src = file.get(name);
    PROMOE_CHECK(src.shape() == t.shape(), "feature net ", path, ": tensor '", name, "' is ", shape_str(src.shape()),
                 ", the config expects ", shape_str(t.shape()));
    raw::copy_(t, src);
  }
  net->train(false);
  return net;
}

Embedding embed(const FeatureNet& net, const Tensor& images, int64_t batch) {
  PROMOE_CHECK(batch > 0, "embed: batch must be positive");
  NoGradGuard ng;
  const int64_t n = images.size(0);
  std::vector<Tensor> feats, preds;
  for (int64_t at = 0; at < n; at += batch) {
    const int64_t b = std::min(batch, n - at);
    FeatureNet::Output o = net.forward(raw::narrow(images, 0, at, b));
    feats.push_back(o.features);
    preds.push_back(raw::argmax(o.logits, 1, false));
  }
  return {raw::to(raw::cat(feats, 0), Device::cpu()), raw::to(raw::cat(preds, 0), Device::cpu())};
}

}  // namespace promoe::eval
