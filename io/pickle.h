// A restricted reader of Python pickles, for the data.pkl record of torch.save archives. It knows
// the opcodes of protocols 2 to 4 that a state dict uses (dicts, lists, tuples, ints, floats,
// strings, booleans, None, the memo, MARK-based batches, persistent ids) and a fixed set of
// globals, each mapped to a value built here: collections.OrderedDict, torch's tensor rebuild
// functions (_rebuild_tensor_v2, _rebuild_parameter, _rebuild_from_type_v2) and the typed storage
// classes (torch.FloatStorage, ...). Nothing from the file is ever executed: any other global or
// opcode is an error naming it. Every length is checked against the bytes left before it is used.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace promoe::io::pickle {

enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

// "a dict", "an int", ... for error messages.
const char* kind_name(Kind k);

// Element types of torch's typed storages.
enum class StorageType { F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool };
const char* storage_type_name(StorageType t);  // "FloatStorage", ...
uint64_t storage_item_size(StorageType t);

struct Object;

// A persistent id ('storage', torch.<T>Storage, key, location, numel): the archive member
// "<prefix>/data/<key>" holding `numel` elements of `type`.
struct StorageRef {
  StorageType type = StorageType::F32;
  std::string key, location;
  uint64_t numel = 0;
};

// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...): a strided view of a storage.
struct TensorRef {
  const Object* storage = nullptr;  // Kind::Storage
  uint64_t offset = 0;              // in elements
  std::vector<int64_t> shape, strides;
};

struct Object {
  Kind kind = Kind::None;
  int64_t integer = 0;                               // Int, Bool
  double real = 0;                                   // Float
  std::string text;                                  // String, Bytes; Global: "module.name"
  std::vector<Object*> items;                        // Tuple, List
  std::vector<std::pair<Object*, Object*>> entries;  // Dict, in insertion order
  StorageRef storage;
  TensorRef tensor;

  // Dict lookups by string or integer key; nullptr when absent (or not a dict).
  const Object* find(std::string_view key) const;
  const Object* find(int64_t key) const;
};

// A parsed pickle: the root object and the arena owning every object (the memo may share and
// even cycle objects, so they are owned here, never by each other).
class Pickle {
 public:
  // Parses `bytes`; `what` (e.g. "PyTorch file x.pth: data.pkl") starts every error message.
  Pickle(std::string_view bytes, const std::string& what);
  Pickle(const Pickle&) = delete;
  Pickle& operator=(const Pickle&) = delete;

  const Object& root() const { return *root_; }
  // Every tensor and storage built while parsing (shared ones once), in order of appearance.
  const std::vector<const Object*>& tensors() const { return tensors_; }
  const std::vector<const Object*>& storages() const { return storages_; }

 private:
  friend class Unpickler;
  Object* make(Kind k);

  std::deque<Object> arena_;
  Object* root_ = nullptr;
  std::vector<const Object*> tensors_, storages_;
};

}  // namespace promoe::io::pickle
