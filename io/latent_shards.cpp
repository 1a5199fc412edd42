// The sharded latent format: index.json, shard headers, memory-mapped reads, and the writer.
#include "io/latent_shards.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.h"
#include "io/checked_size.h"
#include "io/safetensors.h"
#include "tensor/ops.h"

namespace promoe::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "promoe-latent-shards";
constexpr int64_t kVersion = 1;
constexpr int64_t kMaxDim = int64_t(1) << 20;      // one side or channel count of an entry
constexpr int64_t kMaxClasses = int64_t(1) << 31;  // labels are int64 but the model's table is not
constexpr uint64_t kMaxIndexBytes = uint64_t(1) << 28;
constexpr uint64_t kMaxShardHeader = uint64_t(1) << 24;  // a shard header names three tensors

template <typename... Args>
[[noreturn]] void fail(const std::string& source, const Args&... args) {
  PROMOE_FAIL(source, ": ", args...);
}

const json& field(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end()) fail(source, "missing field \"", key, "\"");
  return *it;
}

int64_t int_field(const json& j, const char* key, int64_t lo, int64_t hi, const std::string& source) {
  const json& v = field(j, key, source);
  if (!v.is_number_integer()) fail(source, "field \"", key, "\" is not an integer");
  // Non-negative JSON integers parse as unsigned, which may exceed int64_t.
  const bool outside = v.is_number_unsigned()
                           ? (v.get<uint64_t>() > uint64_t(hi) || (lo > 0 && v.get<uint64_t>() < uint64_t(lo)))
                           : (v.get<int64_t>() < lo || v.get<int64_t>() > hi);
  if (outside) fail(source, "field \"", key, "\" = ", v.dump(), " is outside [", lo, ", ", hi, "]");
  return v.get<int64_t>();
}

bool bool_field(const json& j, const char* key, const std::string& source) {
  const json& v = field(j, key, source);
  if (!v.is_boolean()) fail(source, "field \"", key, "\" is not true or false");
  return v.get<bool>();
}

// A shard's file name: plain, inside the folder (no separators, no leading dot).
bool plain_file_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name[0] != '.' && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// One tensor of a shard header: its dtype and shape must be as given; returns its begin offset
// within the data section, checking that [begin, end) has exactly the expected bytes and lies
// inside `data_size`.
uint64_t tensor_begin(const json& header, const char* name, const char* dtype, const std::vector<int64_t>& shape,
                      uint64_t data_size, const std::string& source) {
  const std::string what = source + " tensor " + name;
  auto it = header.find(name);
  if (it == header.end() || !it->is_object()) fail(source, "no tensor named ", name);
  const json& t = *it;
  const json& d = field(t, "dtype", what);
  if (!d.is_string() || d.get<std::string>() != dtype)
    fail(source, "tensor ", name, " has dtype ", d.dump(), ", expected \"", dtype, "\"");
  const json& s = field(t, "shape", what);
  bool same = s.is_array() && s.size() == shape.size();
  for (size_t i = 0; same && i < shape.size(); ++i)
    same = s[i].is_number_integer() && !s[i].is_number_float() && s[i].get<int64_t>() == shape[i] &&
           !(s[i].is_number_unsigned() && s[i].get<uint64_t>() > uint64_t(INT64_MAX));
  if (!same) {
    std::string want = "[";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
    fail(source, "tensor ", name, " has shape ", s.dump(), ", the index expects ", want, "]");
  }
  const json& o = field(t, "data_offsets", what);
  if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
    fail(source, "tensor ", name, ": data_offsets is not two non-negative integers");
  const uint64_t begin = o[0].get<uint64_t>(), end = o[1].get<uint64_t>();
  const uint64_t bytes =
      checked_bytes(checked_numel(std::span<const int64_t>(shape), what), std::string(dtype) == "I64" ? 8 : 4, what);
  if (begin > end || end > data_size)
    fail(source, "tensor ", name, ": data_offsets [", begin, ", ", end, "] lie outside the file's ", data_size,
         " data bytes");
  if (end - begin != bytes)
    fail(source, "tensor ", name, ": data_offsets span ", end - begin, " bytes, its shape needs ", bytes);
  return begin;
}

}  // namespace

std::string LatentSetInfo::describe() const {
  std::ostringstream s;
  s << kind << " " << path << ": " << size << " entries of " << (moments ? "posterior moments" : "latents") << " ["
    << channels << ", " << height << ", " << width << "]";
  if (moments) s << " (samples [" << sample_channels() << ", " << height << ", " << width << "])";
  s << (flips ? ", with flips" : "") << ", " << num_classes << " classes";
  if (moments) s << ", scaling " << scaling_factor;
  return s.str();
}

LatentIndex parse_latent_index(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(source, "not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail(source, "not a JSON object");
  const json& format = field(j, "format", source);
  if (!format.is_string() || format.get<std::string>() != kFormat)
    fail(source, "field \"format\" is not \"", kFormat, "\"");
  const int64_t version = int_field(j, "version", 0, INT64_MAX, source);
  if (version != kVersion) fail(source, "format version ", version, " is not supported (this reader reads 1)");
  LatentIndex index;
  LatentSetInfo& info = index.info;
  const json& shape = field(j, "shape", source);
  if (!shape.is_array() || shape.size() != 3) fail(source, "field \"shape\" is not [C, H, W]");
  int64_t dims[3];
  for (int i = 0; i < 3; ++i) {
    if (!shape[i].is_number_integer() || shape[i].is_number_float())
      fail(source, "field \"shape\" holds a non-integer");
    const bool big = shape[i].is_number_unsigned() && shape[i].get<uint64_t>() > uint64_t(kMaxDim);
    if (big || shape[i].get<int64_t>() < 1 || shape[i].get<int64_t>() > kMaxDim)
      fail(source, "field \"shape\" = ", shape.dump(), " has a side outside [1, ", kMaxDim, "]");
    dims[i] = shape[i].get<int64_t>();
  }
  info.channels = dims[0];
  info.height = dims[1];
  info.width = dims[2];
  const uint64_t entry_numel = checked_numel(std::span<const int64_t>(dims, 3), source + " shape");
  const json& dtype = field(j, "dtype", source);
  if (!dtype.is_string() || dtype.get<std::string>() != "F32")
    fail(source, "field \"dtype\" = ", dtype.dump(), " is not supported (\"F32\")");
  info.moments = bool_field(j, "moments", source);
  info.flips = bool_field(j, "flips", source);
  if (info.moments && info.channels % 2 != 0)
    fail(source, "moments need an even channel count (means then log-variances), got ", info.channels);
  info.num_classes = int_field(j, "num_classes", 1, kMaxClasses, source);
  if (info.moments) {
    const json& s = field(j, "scaling_factor", source);
    if (!s.is_number() || !std::isfinite(s.get<double>()) || s.get<double>() <= 0 || s.get<double>() > 1e6)
      fail(source, "field \"scaling_factor\" is not a number in (0, 1e6]");
    info.scaling_factor = s.get<double>();
  } else {
    info.scaling_factor = 1.0;
  }
  const json& shards = field(j, "shards", source);
  if (!shards.is_array() || shards.empty()) fail(source, "field \"shards\" is not a non-empty list");
  uint64_t total = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string where = source + " shard " + std::to_string(i);
    if (!shards[i].is_object()) fail(where, "not an object");
    const json& file = field(shards[i], "file", where);
    if (!file.is_string() || !plain_file_name(file.get<std::string>()))
      fail(where, "field \"file\" is not a plain file name inside the folder");
    LatentShardEntry e{file.get<std::string>(), int_field(shards[i], "entries", 1, int64_t(kMaxFileSize), where)};
    total = checked_add(total, uint64_t(e.entries), source + " entry count");
    // The shard's latents must be addressable: entries * C * H * W floats.
    checked_bytes(checked_mul(uint64_t(e.entries), entry_numel, where + " latents"), sizeof(float), where + " latents");
    index.shards.push_back(e);
  }
  const int64_t size = int_field(j, "size", 1, int64_t(kMaxFileSize), source);
  if (uint64_t(size) != total) fail(source, "field \"size\" = ", size, " but the shards hold ", total, " entries");
  info.size = size;
  return index;
}

std::string latent_index_json(const LatentIndex& index) {
  const LatentSetInfo& info = index.info;
  json shards = json::array();
  for (const LatentShardEntry& s : index.shards) shards.push_back({{"file", s.file}, {"entries", s.entries}});
  json j{{"format", kFormat},
         {"version", kVersion},
         {"shape", {info.channels, info.height, info.width}},
         {"dtype", "F32"},
         {"moments", info.moments},
         {"flips", info.flips},
         {"num_classes", info.num_classes},
         {"size", info.size},
         {"shards", shards}};
  if (info.moments) j["scaling_factor"] = info.scaling_factor;
  return j.dump(1) + "\n";
}

ShardLayout parse_shard_header(const uint8_t* bytes, uint64_t size, const LatentIndex& index, size_t shard,
                               const std::string& source) {
  if (size < 8) fail(source, "shorter than a safetensors header (", size, " bytes)");
  const uint64_t header_len = read_u64_le(bytes);
  if (header_len > kMaxShardHeader || header_len > size - 8)
    fail(source, "header claims ", header_len, " bytes, the file has ", size - 8, " after the length");
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const json::exception& e) {
    fail(source, "header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) fail(source, "header is not a JSON object");
  const LatentSetInfo& info = index.info;
  const int64_t n = index.shards.at(shard).entries;
  const uint64_t data_start = 8 + header_len, data_size = size - data_start;
  const std::vector<int64_t> entry_shape{n, info.channels, info.height, info.width};
  ShardLayout layout;
  layout.latents = data_start + tensor_begin(header, "latents", "F32", entry_shape, data_size, source);
  if (info.flips)
    layout.latents_flip = data_start + tensor_begin(header, "latents_flip", "F32", entry_shape, data_size, source);
  layout.labels = data_start + tensor_begin(header, "labels", "I64", {n}, data_size, source);
  return layout;
}

ShardedLatentSet::ShardedLatentSet(const std::string& dir) {
  const std::string index_path = (fs::path(dir) / "index.json").string();
  std::error_code ec;
  const uintmax_t index_size = fs::file_size(index_path, ec);
  PROMOE_CHECK(!ec, "sharded latent set ", dir, ": cannot read index.json (", ec.message(), ")");
  PROMOE_CHECK(index_size <= kMaxIndexBytes, index_path, ": ", index_size, " bytes is more than an index holds");
  std::ifstream in(index_path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  PROMOE_CHECK(in || in.eof(), "cannot read ", index_path);
  index_ = parse_latent_index(text, index_path);
  index_.info.kind = "sharded latent set";
  index_.info.path = dir;
  int64_t first = 0;
  for (size_t i = 0; i < index_.shards.size(); ++i) {
    const std::string path = (fs::path(dir) / index_.shards[i].file).string();
    MappedFile file(path);
    const ShardLayout layout = parse_shard_header(file.data(), file.size(), index_, i, path);
    const int64_t n = index_.shards[i].entries;
    for (int64_t k = 0; k < n; ++k) {
      int64_t y;
      std::memcpy(&y, file.data() + layout.labels + uint64_t(k) * 8, 8);
      PROMOE_CHECK(y >= 0 && y < index_.info.num_classes, path, ": label ", y, " of entry ", k, " is outside [0, ",
                   index_.info.num_classes, ")");
    }
    shards_.push_back({std::move(file), layout, first});
    first += n;
  }
}

const ShardedLatentSet::Shard& ShardedLatentSet::locate(int64_t index, int64_t* local) const {
  PROMOE_CHECK(index >= 0 && index < index_.info.size, index_.info.path, ": entry ", index, " is outside [0, ",
               index_.info.size, ")");
  auto it =
      std::upper_bound(shards_.begin(), shards_.end(), index, [](int64_t i, const Shard& s) { return i < s.first; });
  const Shard& s = *(it - 1);
  *local = index - s.first;
  return s;
}

int64_t ShardedLatentSet::label(int64_t index) const {
  int64_t local;
  const Shard& s = locate(index, &local);
  int64_t y;
  std::memcpy(&y, s.file.data() + s.layout.labels + uint64_t(local) * 8, 8);
  return y;
}

void ShardedLatentSet::read(int64_t index, int variant, float* out) const {
  PROMOE_CHECK(variant == 0 || (variant == 1 && index_.info.flips), index_.info.path, ": entry variant ", variant,
               " does not exist");
  int64_t local;
  const Shard& s = locate(index, &local);
  const uint64_t bytes = uint64_t(index_.info.entry_floats()) * sizeof(float);
  const uint64_t begin = variant == 0 ? s.layout.latents : s.layout.latents_flip;
  std::memcpy(out, s.file.data() + begin + uint64_t(local) * bytes, bytes);
}

LatentShardWriter::LatentShardWriter(const std::string& dir, const LatentSetInfo& info, int64_t shard_size)
    : dir_(dir), shard_size_(shard_size) {
  PROMOE_CHECK(shard_size >= 1, "latent shards: shard size must be positive, got ", shard_size);
  PROMOE_CHECK(!fs::exists(fs::path(dir) / "index.json"), "latent shards: ", dir,
               " already holds a latent set (index.json); remove it or choose another folder");
  PROMOE_CHECK(info.channels > 0 && info.height > 0 && info.width > 0 && info.num_classes > 0,
               "latent shards: entry shape and class count must be positive");
  PROMOE_CHECK(!info.moments || info.channels % 2 == 0, "latent shards: moments need an even channel count");
  fs::create_directories(dir);
  index_.info = info;
  index_.info.size = 0;
}

void LatentShardWriter::add(const float* entry, const float* flipped, int64_t label) {
  PROMOE_CHECK(!finished_, "latent shards: add after finish");
  PROMOE_CHECK((flipped != nullptr) == index_.info.flips, "latent shards: a flipped copy is ",
               index_.info.flips ? "required" : "not expected");
  PROMOE_CHECK(label >= 0 && label < index_.info.num_classes, "latent shards: label ", label, " is outside [0, ",
               index_.info.num_classes, ")");
  const size_t k = size_t(index_.info.entry_floats());
  latents_.insert(latents_.end(), entry, entry + k);
  if (flipped) flips_.insert(flips_.end(), flipped, flipped + k);
  labels_.push_back(label);
  if (int64_t(labels_.size()) == shard_size_) flush();
}

void LatentShardWriter::flush() {
  if (labels_.empty()) return;
  const LatentSetInfo& info = index_.info;
  const int64_t n = int64_t(labels_.size());
  char name[64];
  std::snprintf(name, sizeof(name), "shard-%05zu.safetensors", index_.shards.size());
  const Shape shape{n, info.channels, info.height, info.width};
  NamedTensors tensors{{"latents", raw::from_vector<float>(latents_, shape)}};
  if (info.flips) tensors.push_back({"latents_flip", raw::from_vector<float>(flips_, shape)});
  tensors.push_back({"labels", raw::from_vector<int64_t>(labels_, {n})});
  write_safetensors((fs::path(dir_) / name).string(), tensors);
  index_.shards.push_back({name, n});
  index_.info.size += n;
  latents_.clear();
  flips_.clear();
  labels_.clear();
}

LatentIndex LatentShardWriter::finish() {
  PROMOE_CHECK(!finished_, "latent shards: finish called twice");
  flush();
  PROMOE_CHECK(index_.info.size > 0, "latent shards: no entries were added");
  write_file_atomic((fs::path(dir_) / "index.json").string(), latent_index_json(index_));
  finished_ = true;
  return index_;
}

}  // namespace promoe::io
