// Crafting PyTorch files for tests: a small pickle emitter (the opcodes torch.save uses) and a
// zip writer of stored members, optionally with every size and offset in zip64 records, so tests
// can build well-formed and malformed .pth archives byte by byte.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/zip_reader.h"

namespace promoe::test {

class PickleWriter {
 public:
  PickleWriter() { out_ = "\x80\x02"; }
  PickleWriter& op(char c) {
    out_ += c;
    return *this;
  }
  PickleWriter& mark() { return op('('); }
  PickleWriter& dict() { return op('}'); }
  PickleWriter& list() { return op(']'); }
  PickleWriter& setitems() { return op('u'); }
  PickleWriter& appends() { return op('e'); }
  PickleWriter& tuple() { return op('t'); }
  PickleWriter& none() { return op('N'); }
  PickleWriter& boolean(bool b) { return op(b ? '\x88' : '\x89'); }
  PickleWriter& str(const std::string& s) {
    op('X');
    le(s.size(), 4);
    out_ += s;
    return *this;
  }
  PickleWriter& integer(int64_t v) {  // LONG1 of 8 bytes covers every int64
    op('\x8a');
    out_ += char(8);
    le(uint64_t(v), 8);
    return *this;
  }
  PickleWriter& real(double v) {
    op('G');
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    for (int i = 7; i >= 0; --i) out_ += char((bits >> (8 * i)) & 0xFF);
    return *this;
  }
  PickleWriter& global(const std::string& module, const std::string& name) {
    op('c');
    out_ += module + "\n" + name + "\n";
    return *this;
  }
  PickleWriter& ints(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) integer(x);
    return tuple();
  }
  // torch._utils._rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride,
  // False, OrderedDict())
  PickleWriter& tensor(const std::string& key, const std::string& cls, int64_t numel, int64_t offset,
                       const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().str("storage").global("torch", cls).str(key).str("cpu").integer(numel).tuple().op('Q');
    integer(offset).ints(shape).ints(strides).boolean(false);
    global("collections", "OrderedDict").op(')').op('R');
    return tuple().op('R');
  }
  // A contiguous tensor of its own storage.
  PickleWriter& tensor(const std::string& key, const std::vector<int64_t>& shape) {
    int64_t n = 1;
    std::vector<int64_t> strides(shape.size());
    for (size_t d = shape.size(); d-- > 0;) strides[d] = n, n *= shape[d];
    return tensor(key, "FloatStorage", n, 0, shape, strides);
  }
  std::string finish() { return out_ + "."; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += char((v >> (8 * i)) & 0xFF);
  }
  std::string out_;
};

inline void put_le(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s += char((v >> (8 * i)) & 0xFF);
}

// A zip archive of stored members; with zip64, every central-directory size and offset is
// 0xFFFFFFFF with the values in a zip64 extra field, and the end record points to a zip64 one.
inline std::string zip_archive(const std::vector<std::pair<std::string, std::string>>& members, bool zip64 = false) {
  std::string body, cd;
  for (const auto& [name, data] : members) {
    const uint32_t crc = io::crc32_update(0, data.data(), data.size());
    const uint64_t offset = body.size();
    put_le(body, 0x04034b50, 4);
    put_le(body, 45, 2);
    put_le(body, 0, 2);
    put_le(body, 0, 2);  // stored
    put_le(body, 0, 4);  // time, date
    put_le(body, crc, 4);
    put_le(body, data.size(), 4);
    put_le(body, data.size(), 4);
    put_le(body, name.size(), 2);
    put_le(body, 0, 2);
    body += name + data;
    put_le(cd, 0x02014b50, 4);
    put_le(cd, 45, 2);
    put_le(cd, 45, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 4);
    put_le(cd, crc, 4);
    put_le(cd, zip64 ? 0xFFFFFFFF : data.size(), 4);
    put_le(cd, zip64 ? 0xFFFFFFFF : data.size(), 4);
    put_le(cd, name.size(), 2);
    put_le(cd, zip64 ? 28 : 0, 2);  // extra length
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 4);
    put_le(cd, zip64 ? 0xFFFFFFFF : offset, 4);
    cd += name;
    if (zip64) {
      put_le(cd, 1, 2);
      put_le(cd, 24, 2);
      put_le(cd, data.size(), 8);
      put_le(cd, data.size(), 8);
      put_le(cd, offset, 8);
    }
  }
  std::string end;
  const uint64_t cd_offset = body.size(), n = members.size();
  if (zip64) {
    const uint64_t z = cd_offset + cd.size();
    put_le(end, 0x06064b50, 4);
    put_le(end, 44, 8);
    put_le(end, 45, 2);
    put_le(end, 45, 2);
    put_le(end, 0, 4);
    put_le(end, 0, 4);
    put_le(end, n, 8);
    put_le(end, n, 8);
    put_le(end, cd.size(), 8);
    put_le(end, cd_offset, 8);
    put_le(end, 0x07064b50, 4);
    put_le(end, 0, 4);
    put_le(end, z, 8);
    put_le(end, 1, 4);
  }
  put_le(end, 0x06054b50, 4);
  put_le(end, 0, 4);
  put_le(end, zip64 ? 0xFFFF : n, 2);
  put_le(end, zip64 ? 0xFFFF : n, 2);
  put_le(end, zip64 ? 0xFFFFFFFF : cd.size(), 4);
  put_le(end, zip64 ? 0xFFFFFFFF : cd_offset, 4);
  put_le(end, 0, 2);
  return body + cd + end;
}

// A torch.save-style archive: "archive/data.pkl", "archive/byteorder" and "archive/data/<key>".
inline std::string torch_archive(const std::string& pickle,
                                 const std::vector<std::pair<std::string, std::string>>& storages, bool zip64 = false) {
  std::vector<std::pair<std::string, std::string>> m{{"archive/data.pkl", pickle}, {"archive/byteorder", "little"}};
  for (const auto& [key, bytes] : storages) m.emplace_back("archive/data/" + key, bytes);
  return zip_archive(m, zip64);
}

// `n` f32 values start, start + 1, ... as storage bytes.
inline std::string f32_bytes(int64_t n, float start = 0) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    const float v = start + float(i);
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  return s;
}

}  // namespace promoe::test
