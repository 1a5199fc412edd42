// torch.save archives: locating data.pkl and the storage members, checking them, reading views.
#include "io/pth.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "io/checked_size.h"

namespace promoe::io {

namespace {

using pickle::StorageType;

constexpr uint64_t kMaxPickleBytes = uint64_t(1) << 30;  // data.pkl of an XL checkpoint is ~1 MB

float half_to_f32(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exp == 0) return sign * std::ldexp(float(mant), -24);  // zero and subnormals
  if (exp == 31) return mant ? std::nanf("") : sign * INFINITY;
  return sign * std::ldexp(float(mant | 0x400), exp - 25);
}

DType dtype_of(StorageType t) {
  switch (t) {
    case StorageType::F32:
    case StorageType::F16:
    case StorageType::BF16:
      return DType::F32;
    case StorageType::F64:
      return DType::F64;
    default:
      return DType::I64;
  }
}

template <typename T>
T read_as(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Element i of `src` (storage bytes of `type`) converted into dst[j] of dtype_of(type).
void convert(StorageType type, const unsigned char* src, void* dst, uint64_t j) {
  switch (type) {
    case StorageType::F32:
      static_cast<float*>(dst)[j] = read_as<float>(src);
      break;
    case StorageType::F16:
      static_cast<float*>(dst)[j] = half_to_f32(read_as<uint16_t>(src));
      break;
    case StorageType::BF16:
      static_cast<float*>(dst)[j] = bf16_to_f32(read_as<uint16_t>(src));
      break;
    case StorageType::F64:
      static_cast<double*>(dst)[j] = read_as<double>(src);
      break;
    case StorageType::I64:
      static_cast<int64_t*>(dst)[j] = read_as<int64_t>(src);
      break;
    case StorageType::I32:
      static_cast<int64_t*>(dst)[j] = read_as<int32_t>(src);
      break;
    case StorageType::I16:
      static_cast<int64_t*>(dst)[j] = read_as<int16_t>(src);
      break;
    case StorageType::I8:
      static_cast<int64_t*>(dst)[j] = read_as<int8_t>(src);
      break;
    case StorageType::U8:
    case StorageType::Bool:
      static_cast<int64_t*>(dst)[j] = *src;
      break;
  }
}

}  // namespace

PthFile::PthFile(const std::string& path) : path_(path) {
  const std::string what = "PyTorch file " + path;
  {
    std::ifstream in(path, std::ios::binary);
    PROMOE_CHECK(!in || in.get() != 0x80, what,
                 ": written by the legacy (PyTorch < 1.6) torch.save format, which is not read here; load it in "
                 "PyTorch and save it again");
  }
  zip_ = std::make_unique<ZipReader>(path, what);
  const ZipMember* pkl = nullptr;
  for (const ZipMember& m : zip_->members()) {
    const size_t slash = m.name.find('/');
    if (slash != std::string::npos && m.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      PROMOE_CHECK(!pkl, what, ": more than one data.pkl (", pkl ? pkl->name : "", " and ", m.name, ")");
      pkl = &m;
    }
  }
  PROMOE_CHECK(pkl, what, ": not a torch.save archive (no <name>/data.pkl member)");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
  if (const ZipMember* order = zip_->find(prefix + "byteorder")) {
    const std::string b = zip_->read_member(*order, 16);
    PROMOE_CHECK(b == "little", what, ": written on a ", b, "-endian machine; only little-endian files are read");
  }
  pickle_ = std::make_unique<pickle::Pickle>(zip_->read_member(*pkl, kMaxPickleBytes), what + ": data.pkl");
  for (const pickle::Object* s : pickle_->storages()) {
    const pickle::StorageRef& ref = s->storage;
    const ZipMember* m = zip_->find(prefix + "data/" + ref.key);
    PROMOE_CHECK(m, what, ": storage '", ref.key, "' has no member ", prefix, "data/", ref.key);
    const uint64_t need =
        checked_bytes(ref.numel, pickle::storage_item_size(ref.type), what + ": storage '" + ref.key + "'");
    PROMOE_CHECK(m->method == 0, what, ": member ", m->name, " is compressed (method ", m->method,
                 "); torch.save stores storages uncompressed");
    PROMOE_CHECK(m->size == need && m->compressed_size == need, what, ": member ", m->name, " holds ", m->size,
                 " bytes but its storage of ", ref.numel, " ", pickle::storage_type_name(ref.type), " elements needs ",
                 need);
    zip_->data_offset(*m);  // its local header exists and its bytes lie inside the file
    records_[ref.key] = m;
  }
}

Shape PthFile::shape(const pickle::Object& tensor) {
  PROMOE_CHECK(tensor.kind == pickle::Kind::Tensor, "PthFile::shape: not a tensor");
  return Shape(tensor.tensor.shape.begin(), tensor.tensor.shape.end());
}

Tensor PthFile::load(const pickle::Object& tensor) const {
  PROMOE_CHECK(tensor.kind == pickle::Kind::Tensor, "PyTorch file ", path_, ": load of ",
               pickle::kind_name(tensor.kind), ", not a tensor");
  const pickle::TensorRef& r = tensor.tensor;
  const pickle::StorageRef& s = r.storage->storage;
  const ZipMember& m = *records_.at(s.key);
  const uint64_t item = pickle::storage_item_size(s.type);
  Tensor out = Tensor::empty(shape(tensor), dtype_of(s.type), Device::cpu());
  const uint64_t numel = uint64_t(out.numel());
  if (numel == 0) return out;
  // The elements the view spans: [r.offset, last]; the pickle reader checked last < s.numel.
  uint64_t last = r.offset;
  for (size_t d = 0; d < r.shape.size(); ++d) last += uint64_t(r.shape[d] - 1) * uint64_t(r.strides[d]);
  const uint64_t span = last - r.offset + 1;
  std::vector<unsigned char> bytes(span * item);
  zip_->read_stored(m, r.offset * item, bytes.data(), bytes.size());
  if (r.offset == 0 && span == s.numel)
    PROMOE_CHECK(crc32_update(0, bytes.data(), bytes.size()) == m.crc32, "PyTorch file ", path_, ": member ", m.name,
                 ": CRC-32 mismatch (corrupt data)");
  bool row_major = true;
  for (size_t d = r.shape.size(), expect = 1; d-- > 0; expect *= size_t(r.shape[d]))
    row_major = row_major && (r.shape[d] == 1 || uint64_t(r.strides[d]) == expect);
  if (row_major && s.type == StorageType::F32) {
    std::memcpy(out.raw_data(), bytes.data(), bytes.size());
    return out;
  }
  // Row-major walk over the view, the last dimension fastest.
  std::vector<int64_t> index(r.shape.size(), 0);
  uint64_t src = 0;
  for (uint64_t j = 0; j < numel; ++j) {
    convert(s.type, bytes.data() + src * item, out.raw_data(), j);
    for (size_t d = r.shape.size(); d-- > 0;) {
      src += uint64_t(r.strides[d]);
      if (++index[d] < r.shape[d]) break;
      src -= uint64_t(r.strides[d]) * uint64_t(r.shape[d]);
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace promoe::io
