// VaeConfig from diffusers' config.json, with range checks.
#include "vae/config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tensor/error.h"

namespace promoe::vae {

using json = nlohmann::json;

namespace {

constexpr uintmax_t kMaxConfigBytes = 1 << 20;

int64_t integer(const json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi, const std::string& what) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  PROMOE_CHECK(v.is_number_integer(), what, ": ", key, " must be an integer, got ", v.dump());
  // Read through the unsigned or signed value as stored, so a huge number is not wrapped first.
  const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(hi) && int64_t(v.get<uint64_t>()) >= lo
                                               : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  PROMOE_CHECK(in_range, what, ": ", key, " = ", v.dump(), " is outside the accepted range [", lo, ", ", hi, "]");
  return v.get<int64_t>();
}

double number(const json& j, const char* key, double fallback, const std::string& what) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  const json& v = j.at(key);
  PROMOE_CHECK(v.is_number() && std::isfinite(v.get<double>()), what, ": ", key, " must be a finite number, got ",
               v.dump());
  return v.get<double>();
}

bool flag(const json& j, const char* key, bool fallback, const std::string& what) {
  if (!j.contains(key)) return fallback;
  PROMOE_CHECK(j.at(key).is_boolean(), what, ": ", key, " must be true or false, got ", j.at(key).dump());
  return j.at(key).get<bool>();
}

// A list of block type names, each of which must be `expected` (the only block the VAEs use).
void check_block_types(const json& j, const char* key, const char* expected, size_t blocks, const std::string& what) {
  if (!j.contains(key)) return;
  const json& v = j.at(key);
  PROMOE_CHECK(v.is_array() && v.size() == blocks, what, ": ", key, " must list ", blocks,
               " block types (one per block_out_channels entry), got ", v.dump());
  for (const json& t : v)
    PROMOE_CHECK(t.is_string() && t.get<std::string>() == expected, what, ": ", key, " entry ", t.dump(),
                 " is not supported (only ", expected, ")");
}

double conv(double in, double out, double k) { return out * in * k * k + out; }
double norm(double c) { return 2 * c; }
double resnet(double in, double out) {
  return norm(in) + conv(in, out, 3) + norm(out) + conv(out, out, 3) + (in != out ? conv(in, out, 1) : 0.0);
}

}  // namespace

double vae_parameter_count(const VaeConfig& c) {
  const std::vector<int64_t>& ch = c.block_out_channels;
  const double top = double(ch.back()), layers = double(c.layers_per_block);
  const double mid = 2 * resnet(top, top) + (c.mid_block_add_attention ? norm(top) + 4 * (top * top + top) : 0.0);
  double enc = conv(double(c.in_channels), double(ch[0]), 3), prev = double(ch[0]);
  for (size_t i = 0; i < ch.size(); ++i) {
    const double out = double(ch[i]);
    enc += resnet(prev, out) + (layers - 1) * resnet(out, out) + (i + 1 < ch.size() ? conv(out, out, 3) : 0.0);
    prev = out;
  }
  enc += mid + norm(top) + conv(top, 2.0 * double(c.latent_channels), 3);
  double dec = conv(double(c.latent_channels), top, 3) + mid;
  prev = top;
  for (size_t i = ch.size(); i-- > 0;) {
    const double out = double(ch[i]);
    dec += resnet(prev, out) + layers * resnet(out, out) + (i > 0 ? conv(out, out, 3) : 0.0);
    prev = out;
  }
  dec += norm(double(ch[0])) + conv(double(ch[0]), double(c.out_channels), 3);
  const double latent = double(c.latent_channels);
  return enc + dec + (c.use_quant_conv ? conv(2 * latent, 2 * latent, 1) : 0.0) +
         (c.use_post_quant_conv ? conv(latent, latent, 1) : 0.0);
}

VaeConfig parse_vae_config(const std::string& json_text, const std::string& what) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    PROMOE_FAIL(what, ": not valid JSON (", e.what(), ")");
  }
  PROMOE_CHECK(j.is_object(), what, ": expected a JSON object");
  if (j.contains("_class_name"))
    PROMOE_CHECK(j.at("_class_name") == "AutoencoderKL", what, ": _class_name ", j.at("_class_name").dump(),
                 " is not AutoencoderKL");
  VaeConfig c;
  c.in_channels = integer(j, "in_channels", c.in_channels, 1, kMaxVaeImageChannels, what);
  c.out_channels = integer(j, "out_channels", c.out_channels, 1, kMaxVaeImageChannels, what);
  c.latent_channels = integer(j, "latent_channels", c.latent_channels, 1, kMaxVaeChannels, what);
  c.layers_per_block = integer(j, "layers_per_block", c.layers_per_block, 1, kMaxVaeLayersPerBlock, what);
  c.norm_num_groups = integer(j, "norm_num_groups", c.norm_num_groups, 1, kMaxVaeChannels, what);
  if (j.contains("block_out_channels")) {
    const json& v = j.at("block_out_channels");
    PROMOE_CHECK(v.is_array() && !v.empty() && v.size() <= size_t(kMaxVaeBlocks), what,
                 ": block_out_channels must list 1 to ", kMaxVaeBlocks, " channel counts, got ", v.dump());
    c.block_out_channels.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string key = "block_out_channels[" + std::to_string(i) + "]";
      c.block_out_channels.push_back(integer(json{{key, v[i]}}, key.c_str(), 0, 1, kMaxVaeChannels, what));
    }
  }
  for (int64_t ch : c.block_out_channels)
    PROMOE_CHECK(ch % c.norm_num_groups == 0, what, ": block_out_channels entry ", ch,
                 " does not split into norm_num_groups = ", c.norm_num_groups, " groups");
  check_block_types(j, "down_block_types", "DownEncoderBlock2D", c.block_out_channels.size(), what);
  check_block_types(j, "up_block_types", "UpDecoderBlock2D", c.block_out_channels.size(), what);
  if (j.contains("act_fn"))
    PROMOE_CHECK(j.at("act_fn") == "silu", what, ": act_fn ", j.at("act_fn").dump(), " is not supported (only silu)");
  c.scaling_factor = number(j, "scaling_factor", c.scaling_factor, what);
  PROMOE_CHECK(c.scaling_factor > 0, what, ": scaling_factor must be positive, got ", c.scaling_factor);
  c.shift_factor = number(j, "shift_factor", c.shift_factor, what);
  c.use_quant_conv = flag(j, "use_quant_conv", c.use_quant_conv, what);
  c.use_post_quant_conv = flag(j, "use_post_quant_conv", c.use_post_quant_conv, what);
  c.mid_block_add_attention = flag(j, "mid_block_add_attention", c.mid_block_add_attention, what);
  const double params = vae_parameter_count(c);
  PROMOE_CHECK(params <= double(kMaxVaeParameters), what, ": the configured model would have ", params,
               " parameters, more than the accepted ", kMaxVaeParameters);
  return c;
}

VaeConfig read_vae_config(const std::string& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  PROMOE_CHECK(!ec, path, ": cannot read the VAE config (", ec.message(), ")");
  PROMOE_CHECK(bytes <= kMaxConfigBytes, path, ": ", bytes, " bytes is too large for a VAE config (at most ",
               kMaxConfigBytes, ")");
  std::ifstream in(path, std::ios::binary);
  PROMOE_CHECK(in, path, ": cannot open the VAE config");
  std::ostringstream text;
  text << in.rdbuf();
  PROMOE_CHECK(!in.bad(), path, ": read error");
  return parse_vae_config(text.str(), path);
}

}  // namespace promoe::vae
