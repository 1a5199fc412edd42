// safetensors reading (validated, tensor data read straight into CPU storage) and atomic writing.
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "io/atomic_file.h"
#include "io/checked_size.h"
#include "tensor/ops.h"

namespace promoe::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

struct HeaderEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
  bool f16;  // stored as IEEE half precision, read as F32
};

template <typename... Args>
[[noreturn]] void fail(const std::string& path, const Args&... args) {
  PROMOE_FAIL("safetensors file ", path, ": ", args...);
}

// F16 is read as F32 (`half` set); the others are kept as they are.
bool parse_dtype(const std::string& s, DType* out, bool* half) {
  *half = s == "F16";
  if (s == "F32" || s == "F16")
    *out = DType::F32;
  else if (s == "F64")
    *out = DType::F64;
  else if (s == "I64")
    *out = DType::I64;
  else if (s == "BF16")
    *out = DType::BF16;
  else
    return false;
  return true;
}

bool is_uint(const nlohmann::json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
}

HeaderEntry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& j) {
  HeaderEntry e{name, DType::F32, {}, 0, 0, false};
  if (!j.is_object()) fail(path, "header entry for tensor '", name, "' is not a JSON object");
  auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) fail(path, "tensor '", name, "' has no dtype string");
  if (!parse_dtype(dt->get<std::string>(), &e.dtype, &e.f16))
    fail(path, "tensor '", name, "' has unknown dtype '", dt->get<std::string>(),
         "' (supported: F32, F64, I64, BF16, F16)");
  auto sh = j.find("shape");
  if (sh == j.end() || !sh->is_array()) fail(path, "tensor '", name, "' has no shape array");
  std::vector<uint64_t> dims;
  for (const auto& d : *sh) {
    if (!is_uint(d)) fail(path, "tensor '", name, "' has a shape entry that is not a non-negative integer: ", d.dump());
    dims.push_back(d.get<uint64_t>());
  }
  const std::string what = "safetensors file " + path + ": tensor '" + name + "'";
  const uint64_t need = checked_bytes(checked_numel(dims, what), e.f16 ? 2 : dtype_size(e.dtype), what);
  e.shape.assign(dims.begin(), dims.end());
  auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !is_uint((*off)[0]) || !is_uint((*off)[1]))
    fail(path, "tensor '", name, "' needs data_offsets as two non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin)
    fail(path, "tensor '", name, "' has data_offsets [", e.begin, ", ", e.end, "] out of range (end before begin)");
  if (e.end - e.begin != need)
    fail(path, "tensor '", name, "' has data_offsets [", e.begin, ", ", e.end, "] spanning ", e.end - e.begin,
         " bytes, but shape ", shape_str(e.shape), " of ", dt->get<std::string>(), " needs ", need);
  return e;
}

Metadata parse_metadata(const std::string& path, const nlohmann::json& j) {
  Metadata m;
  if (j.is_null()) return m;
  if (!j.is_object()) fail(path, "__metadata__ is not a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) fail(path, "__metadata__ value for '", k, "' is not a string: ", v.dump());
    m[k] = v.get<std::string>();
  }
  return m;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
    case DType::BF16:
      return "BF16";
  }
  return "?";
}

SafeTensorsReader::SafeTensorsReader(const std::string& path) : path_(path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file");
  if (fs::is_directory(path, ec)) fail(path, "is a directory, not a file");
  uint64_t fsize = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read its size: ", ec.message());
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) fail(path, "cannot open: ", std::strerror(errno));
  try {
    if (fsize < 8) fail(path, "file is ", fsize, " bytes, shorter than the 8-byte header length");
    uint64_t hlen = 0;
    if (std::fread(&hlen, 1, 8, file_) != 8) fail(path, "cannot read the header length");
    if (hlen > fsize - 8) fail(path, "header length ", hlen, " goes beyond the end of the file (", fsize, " bytes)");
    if (hlen > kMaxHeaderBytes) fail(path, "header length ", hlen, " exceeds the ", kMaxHeaderBytes, "-byte limit");
    std::string header(hlen, '\0');
    if (std::fread(header.data(), 1, hlen, file_) != hlen) fail(path, "cannot read the ", hlen, "-byte header");

    nlohmann::json h;
    try {
      h = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number beyond 64 bits
      fail(path, "malformed JSON header: ", e.what());
    }
    if (!h.is_object()) fail(path, "header is not a JSON object");

    std::vector<HeaderEntry> entries;
    for (const auto& [key, val] : h.items()) {
      if (key == "__metadata__")
        meta_ = parse_metadata(path, val);
      else
        entries.push_back(parse_entry(path, key, val));
    }

    // Tensors must not share bytes, and all of them must lie inside the data section.
    std::sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t i = 1; i < entries.size(); ++i) {
      const HeaderEntry &a = entries[i - 1], &b = entries[i];
      if (b.begin < a.end)
        fail(path, "tensors '", a.name, "' and '", b.name, "' overlap in the data section ([", a.begin, ", ", a.end,
             ") and [", b.begin, ", ", b.end, "))");
    }
    const uint64_t data_bytes = fsize - 8 - hlen;
    for (const HeaderEntry& e : entries)
      if (e.end > data_bytes)
        fail(path, "truncated data: tensor '", e.name, "' ends at byte ", e.end,
             " of the data section, which holds only ", data_bytes, " bytes");
    data_start_ = 8 + hlen;
    for (const HeaderEntry& e : entries) {
      order_.push_back(e.name);
      entries_.emplace(e.name, Entry{e.dtype, e.shape, e.begin, e.end, e.f16});
    }
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

SafeTensorsReader::~SafeTensorsReader() { std::fclose(file_); }

const SafeTensorsReader::Entry& SafeTensorsReader::entry(const std::string& name) const {
  auto it = entries_.find(name);
  PROMOE_CHECK(it != entries_.end(), "safetensors file ", path_, " has no tensor named ", name);
  return it->second;
}

DType SafeTensorsReader::dtype(const std::string& name) const { return entry(name).dtype; }
const Shape& SafeTensorsReader::shape(const std::string& name) const { return entry(name).shape; }

namespace {

// IEEE binary16 to binary32, exactly.
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0x1F) {  // infinity, NaN
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal: rebias 15 -> 127
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // zero
    bits = sign;
  } else {  // subnormal: mantissa * 2^-24, exact in float
    const float v = float(mantissa) * 0x1p-24f;
    bits = sign | std::bit_cast<uint32_t>(v);
  }
  return std::bit_cast<float>(bits);
}

}  // namespace

Tensor SafeTensorsReader::load(const std::string& name) const {
  const Entry& e = entry(name);
  Tensor t = Tensor::empty(e.shape, e.dtype, Device::cpu());
  const size_t n = size_t(e.end - e.begin);
  std::vector<uint16_t> halves(e.f16 ? n / 2 : 0);
  void* dst = e.f16 ? static_cast<void*>(halves.data()) : t.raw_data();
  if (n && (fseeko(file_, off_t(data_start_ + e.begin), SEEK_SET) != 0 || std::fread(dst, 1, n, file_) != n))
    fail(path_, "truncated data: cannot read the ", n, " bytes of tensor '", name, "'");
  if (e.f16) {
    float* out = n ? t.data<float>() : nullptr;
    for (size_t i = 0; i < halves.size(); ++i) out[i] = half_to_float(halves[i]);
  }
  return t;
}

SafeTensors read_safetensors(const std::string& path) {
  SafeTensorsReader reader(path);
  SafeTensors out;
  out.path = path;
  out.meta = reader.metadata();
  out.order = reader.names();
  for (const std::string& name : out.order) out.tensors.emplace(name, reader.load(name));
  return out;
}

const Tensor& SafeTensors::get(const std::string& name) const {
  auto it = tensors.find(name);
  PROMOE_CHECK(it != tensors.end(), "file ", path, " has no tensor named ", name);
  return it->second;
}

Tensor SafeTensors::get_index(const std::string& name) const {
  return to_index_tensor(get(name), "tensor " + name + " of file " + path);
}

const std::string& SafeTensors::metadata(const std::string& key) const {
  auto it = meta.find(key);
  PROMOE_CHECK(it != meta.end(), "file ", path, " has no metadata key ", key);
  return it->second;
}

Tensor to_index_tensor(const Tensor& t, const std::string& what) {
  PROMOE_CHECK(t.defined(), what, ": undefined tensor");
  if (t.dtype() == DType::I64) return t;
  std::vector<double> v = t.to_vector<double>();
  std::vector<int64_t> idx(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    PROMOE_CHECK(std::isfinite(v[i]) && v[i] == std::floor(v[i]) && std::fabs(v[i]) < 9.0e15, what,
                 " should hold integer values but element ", i, " is ", v[i]);
    idx[i] = int64_t(v[i]);
  }
  return raw::from_vector<int64_t>(idx, t.shape(), t.device());
}

void write_safetensors_streamed(const std::string& path, const std::vector<TensorSpec>& specs, const Metadata& metadata,
                                const std::function<Tensor(size_t)>& produce) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorSpec& s : specs) {
    PROMOE_CHECK(!s.name.empty(), "write_safetensors ", path, ": empty tensor name");
    PROMOE_CHECK(s.name != "__metadata__", "write_safetensors ", path, ": '__metadata__' is not a valid tensor name");
    PROMOE_CHECK(seen.insert(s.name).second, "write_safetensors ", path, ": duplicate tensor name ", s.name);
    const uint64_t n = uint64_t(numel_of(s.shape)) * dtype_size(s.dtype);
    h[s.name] = {
        {"dtype", safetensors_dtype_name(s.dtype)}, {"shape", s.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  write_file_atomic(path, [&](const ByteSink& sink) {
    uint64_t hlen = header.size();
    sink(&hlen, 8);
    sink(header.data(), header.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const Tensor t = produce(i);
      PROMOE_CHECK(t.defined(), "write_safetensors ", path, ": tensor ", specs[i].name, " is undefined");
      PROMOE_CHECK(t.dtype() == specs[i].dtype && t.shape() == specs[i].shape, "write_safetensors ", path, ": tensor ",
                   specs[i].name, " is ", describe(t), ", not the ", dtype_name(specs[i].dtype),
                   shape_str(specs[i].shape), " announced");
      const Tensor c = raw::contiguous(raw::to(t, Device::cpu()));
      sink(c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()));
    }
  });
}

void write_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, t] : tensors) {
    PROMOE_CHECK(t.defined(), "write_safetensors ", path, ": tensor ", name, " is undefined");
    specs.push_back({name, t.dtype(), t.shape()});
  }
  write_safetensors_streamed(path, specs, metadata, [&](size_t i) { return tensors[i].second; });
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const Metadata& metadata) {
  write_safetensors(path, NamedTensors(tensors.begin(), tensors.end()), metadata);
}

}  // namespace promoe::io
