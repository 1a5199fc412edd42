// Applying configuration edits to a preset's JSON.
#include "training/config_edits.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace promoe::training {

namespace {

using json = nlohmann::json;

// Every field a configuration may hold, with a value of its type: what a key and its value are
// checked against.
const json& schema() {
  static const json s = [] {
    json j = moe::configs_to_json(nn::DiTConfig{}, moe::MoeConfig{});
    j["moe"]["capacity"] = int64_t(0);  // optional: written only when set
    return j;
  }();
  return s;
}

std::string valid_keys(const json& level, const std::string& prefix) {
  std::string out;
  for (const auto& [k, v] : level.items()) out += (out.empty() ? "" : ", ") + prefix + k;
  return out;
}

// A value that may stand where `like` stands: a number for a number (an integer for an integer
// field), a bool for a bool, a string for a string.
bool same_kind(const json& value, const json& like) {
  if (like.is_boolean()) return value.is_boolean();
  if (like.is_string()) return value.is_string();
  if (like.is_number_integer())
    return value.is_number_integer() ||
           (value.is_number_float() && value.get<double>() == int64_t(value.get<double>()));
  if (like.is_number()) return value.is_number();
  return false;
}

const char* kind_name(const json& like) {
  if (like.is_boolean()) return "true or false";
  if (like.is_string()) return "a string";
  if (like.is_number_integer()) return "an integer";
  return "a number";
}

// Sets config[path] = value after checking path and value against the schema. `where` names the
// edit in errors ("--set moe.top_k", "config file x.json: key moe.top_k").
void apply(json& config, const std::vector<std::string>& path, const json& value, const std::string& where) {
  PROMOE_CHECK(!path.empty() && path.size() <= 2, where, ": keys have one or two dotted parts (moe.top_k)");
  const std::string& head = path[0];
  PROMOE_CHECK(schema().contains(head), where, ": unknown key '", head, "' (valid: ", valid_keys(schema(), ""), ")");
  if (head == "moe" && path.size() == 1) {
    PROMOE_CHECK(value.is_null() || value.is_object(), where, ": moe must be null (dense) or an object of moe fields");
    if (value.is_null()) {
      config.erase("moe");
      return;
    }
    for (const auto& [k, v] : value.items()) apply(config, {"moe", k}, v, where);
    return;
  }
  if (path.size() == 2) {
    PROMOE_CHECK(head == "moe", where, ": '", head, "' has no fields");
    const json& fields = schema().at("moe");
    PROMOE_CHECK(fields.contains(path[1]), where, ": unknown key 'moe.", path[1],
                 "' (valid: ", valid_keys(fields, "moe."), ")");
    PROMOE_CHECK(same_kind(value, fields.at(path[1])), where, ": moe.", path[1], " must be ",
                 kind_name(fields.at(path[1])), ", got ", value.dump());
    if (!config.contains("moe")) config["moe"] = json::object();  // moe/config.h defaults, by type
    config["moe"][path[1]] = value;
    return;
  }
  PROMOE_CHECK(same_kind(value, schema().at(head)), where, ": ", head, " must be ", kind_name(schema().at(head)),
               ", got ", value.dump());
  config[head] = value;
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream in(key);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  if (!key.empty() && key.back() == '.') parts.push_back("");
  return parts;
}

json read_config_file(const std::string& path) {
  std::ifstream in(path);
  PROMOE_CHECK(in, "--config ", path, ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  try {
    json j = json::parse(text.str());
    PROMOE_CHECK(j.is_object(), "--config ", path, ": expected a JSON object of config fields, got ", j.type_name());
    return j;
  } catch (const json::exception& e) {
    PROMOE_FAIL("--config ", path, ": not valid JSON: ", e.what());
  }
}

}  // namespace

ModelSpec edited_spec(const std::string& preset, const ConfigEdits& edits) {
  const ModelSpec base = ModelSpec::preset(preset);
  if (edits.empty()) return base;
  json config = moe::configs_to_json(base.dit, base.moe);
  if (!edits.config_file.empty()) {
    const json file = read_config_file(edits.config_file);
    for (const auto& [key, value] : file.items())
      apply(config, {key}, value, "--config " + edits.config_file + ": key " + key);
  }
  for (const std::string& set : edits.sets) {
    const size_t eq = set.find('=');
    PROMOE_CHECK(eq != std::string::npos && eq > 0, "--set '", set, "': expected key=value (e.g. moe.rcl_lambda=0)");
    const std::string key = set.substr(0, eq), text = set.substr(eq + 1);
    json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = text;  // a bare word: moe.type=tc
    apply(config, split_key(key), value, "--set " + key);
  }
  try {
    return ModelSpec::from_json(config.dump());
  } catch (const Error& e) {
    PROMOE_FAIL("the edited configuration of ", preset, " is invalid: ", e.what());
  }
}

std::string describe(const ConfigEdits& edits) {
  return json{{"config", edits.config_file}, {"set", edits.sets}}.dump();
}

}  // namespace promoe::training
