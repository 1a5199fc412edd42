// The AutoencoderKL of vae/: the full Stable Diffusion VAE configuration built at random
// initialisation against the parameter names and shapes diffusers gives it
// (tests/data/vae/sd_vae_ft_ema_shapes.json), and the errors a hostile or mismatched model folder
// gets: config.json numbers out of range, weights missing, extra or of the wrong shape.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "expect_error.h"
#include "io/safetensors.h"
#include "tensor/ops.h"
#include "test_unit_io_util.h"
#include "vae/load.h"

using namespace promoe;
using test::expect_error;

namespace {

const std::filesystem::path kVaeData = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / "vae";

std::string with(const std::string& key, const std::string& value) {
  return R"({"_class_name": "AutoencoderKL", "block_out_channels": [32, 64], "norm_num_groups": 8, ")" + key +
         "\": " + value + "}";
}

// A copy of the two_blocks golden folder whose weights went through `edit`.
void write_folder(const test::TempDir& dir, const std::function<void(std::map<std::string, Tensor>&)>& edit) {
  std::filesystem::copy_file(kVaeData / "two_blocks" / "config.json", dir.path / "config.json",
                             std::filesystem::copy_options::overwrite_existing);
  io::SafeTensors w = io::read_safetensors((kVaeData / "two_blocks" / vae::kWeightsFile).string());
  edit(w.tensors);
  io::write_safetensors((dir.path / vae::kWeightsFile).string(), w.tensors);
}

}  // namespace

TEST_CASE("the full SD VAE config builds the model diffusers builds: every name, shape and 83.65M parameters") {
  const vae::VaeConfig c = vae::read_vae_config((kVaeData / "sd_vae_ft_ema_config.json").string());
  CHECK(c.scaling_factor == 0.18215);  // diffusers' default: the file does not set it
  CHECK(c.downsample_factor() == 8);
  std::ifstream in(kVaeData / "sd_vae_ft_ema_shapes.json");
  const nlohmann::json want = nlohmann::json::parse(in);
  CHECK(vae::vae_parameter_count(c) == want.at("parameters").get<double>());
  Generator gen(3);
  vae::AutoencoderKL model(c, gen);
  CHECK(model.num_parameters() == want.at("parameters").get<int64_t>());
  CHECK(model.num_parameters() == 83653863);
  const NamedTensors got = model.state_dict();
  REQUIRE(got.size() == want.at("tensors").size());
  for (size_t i = 0; i < got.size(); ++i) {
    const nlohmann::json& row = want.at("tensors")[i];
    CAPTURE(row.dump());
    CHECK(got[i].first == row[0].get<std::string>());
    CHECK(got[i].second.shape() == row[1].get<Shape>());
  }
}

TEST_CASE("parameter counts of other configs agree with the model built from them") {
  for (const std::string& json : {with("layers_per_block", "3"), with("mid_block_add_attention", "false"),
                                  with("use_quant_conv", "false"), with("latent_channels", "16")}) {
    CAPTURE(json);
    const vae::VaeConfig c = vae::parse_vae_config(json, "config.json");
    Generator gen(4);
    vae::AutoencoderKL model(c, gen);
    CHECK(double(model.num_parameters()) == vae::vae_parameter_count(c));
  }
}

TEST_CASE("config.json with hostile or unsupported values is refused, naming the key") {
  const std::string f = "vae/config.json";
  struct Bad {
    std::string json;
    std::vector<std::string> pieces;
  };
  for (const Bad& b : std::vector<Bad>{
           {with("layers_per_block", "0"), {f, "layers_per_block = 0 is outside the accepted range [1, 16]"}},
           {with("latent_channels", "-4"), {"latent_channels = -4 is outside"}},
           {with("in_channels", "18446744073709551615"), {"in_channels = 18446744073709551615 is outside"}},
           {with("in_channels", "1e300"), {"in_channels must be an integer"}},
           {with("norm_num_groups", "\"32\""), {"norm_num_groups must be an integer"}},
           {with("scaling_factor", "-1"), {"scaling_factor must be positive"}},
           {with("scaling_factor", "\"big\""), {"scaling_factor must be a finite number"}},
           {with("act_fn", "\"gelu\""), {"act_fn \"gelu\" is not supported"}},
           {with("use_quant_conv", "1"), {"use_quant_conv must be true or false"}},
           {with("down_block_types", "[\"DownEncoderBlock2D\"]"), {"down_block_types must list 2 block types"}},
           {with("up_block_types", "[\"AttnUpDecoderBlock2D\", \"UpDecoderBlock2D\"]"),
            {"\"AttnUpDecoderBlock2D\" is not supported"}},
           {R"({"block_out_channels": [32, 48], "norm_num_groups": 32})",
            {"block_out_channels entry 48 does not split into norm_num_groups = 32"}},
           {R"({"block_out_channels": [], "norm_num_groups": 1})", {"block_out_channels must list 1 to 8"}},
           {R"({"block_out_channels": [32, 99999], "norm_num_groups": 1})", {"block_out_channels[1] = 99999"}},
           {R"({"block_out_channels": [4096, 4096, 4096], "layers_per_block": 16, "norm_num_groups": 1})",
            {"parameters, more than the accepted 2147483648"}},
           {R"({"_class_name": "UNet2DModel"})", {"_class_name \"UNet2DModel\" is not AutoencoderKL"}},
           {"[1, 2]", {"expected a JSON object"}},
           {"{\"in_channels\": ", {f, "not valid JSON"}},
       }) {
    CAPTURE(b.json);
    expect_error([&] { vae::parse_vae_config(b.json, f); }, b.pieces);
  }
}

TEST_CASE("a VAE folder with missing, extra or misshapen weights is refused, naming the tensor and the shapes") {
  test::TempDir dir("vae_weights");
  const std::string conv = "decoder.up_blocks.1.resnets.0.conv1.weight";
  write_folder(dir, [&](auto& t) { t[conv] = raw::zeros({16, 32, 3, 1}); });
  expect_error([&] { vae::load_vae(dir.path.string()); },
               {vae::kWeightsFile, conv, "[16, 32, 3, 1]", "expects [16, 32, 3, 3]"});
  write_folder(dir, [&](auto& t) { t.erase("encoder.conv_out.bias"); });
  expect_error([&] { vae::load_vae(dir.path.string()); }, {"encoder.conv_out.bias", "[8]", "is missing"});
  write_folder(dir, [&](auto& t) { t["encoder.down_blocks.7.resnets.0.conv1.weight"] = raw::zeros({1}); });
  expect_error([&] { vae::load_vae(dir.path.string()); },
               {"encoder.down_blocks.7.resnets.0.conv1.weight", "is not a parameter of the configured AutoencoderKL"});
  write_folder(dir, [&](auto& t) {  // both names of one attention weight
    t["decoder.mid_block.attentions.0.query.weight"] = t.at("decoder.mid_block.attentions.0.to_q.weight");
  });
  expect_error([&] { vae::load_vae(dir.path.string()); }, {"decoder.mid_block.attentions.0.to_q.weight", "twice"});
  write_folder(dir, [&](auto& t) { t["quant_conv.bias"] = raw::zeros({8}, DType::I64); });
  expect_error([&] { vae::load_vae(dir.path.string()); }, {"quant_conv.bias", "holds integers"});
  expect_error([&] { vae::load_vae((dir.path / "nonexistent").string()); }, {"nonexistent", "not a VAE folder"});
  std::filesystem::remove(dir.path / "config.json");
  expect_error([&] { vae::load_vae(dir.path.string()); }, {"config.json", "cannot read the VAE config"});
}

TEST_CASE("attention weights stored as 1x1 convolutions load, and the old attention names map to the new") {
  CHECK(vae::current_vae_name("encoder.mid_block.attentions.0.query.weight") ==
        "encoder.mid_block.attentions.0.to_q.weight");
  CHECK(vae::current_vae_name("decoder.mid_block.attentions.0.proj_attn.bias") ==
        "decoder.mid_block.attentions.0.to_out.0.bias");
  CHECK(vae::current_vae_name("encoder.down_blocks.0.resnets.0.conv1.weight") ==
        "encoder.down_blocks.0.resnets.0.conv1.weight");
  test::TempDir dir("vae_conv_attn");
  const std::string name = "encoder.mid_block.attentions.0.to_v.weight";
  Tensor stored;
  write_folder(dir, [&](auto& t) {
    stored = t.at(name);
    t[name] = raw::reshape(stored, {32, 32, 1, 1});
  });
  auto model = vae::load_vae(dir.path.string());
  const Tensor& loaded = model->encoder->mid_block->attention->to_v->weight;
  CHECK(loaded.to_vector<float>() == stored.to_vector<float>());
}

TEST_CASE("encode and decode refuse inputs of the wrong shape") {
  auto model = vae::load_vae((kVaeData / "two_blocks").string());
  NoGradGuard no_grad;
  expect_error([&] { model->encode(raw::zeros({1, 3, 15, 16})); }, {"vae encode", "multiples of 2"});
  expect_error([&] { model->encode(raw::zeros({1, 4, 16, 16})); }, {"vae encode", "(B, 3, H, W)"});
  expect_error([&] { model->decode(raw::zeros({1, 3, 8, 8})); }, {"vae decode", "(B, 4, h, w)"});
}
