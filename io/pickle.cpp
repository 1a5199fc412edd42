// The restricted unpickler (see pickle.h): an opcode loop over a value stack, a mark stack and
// the memo, with the allowed globals interpreted by name.
#include "io/pickle.h"

#include <bit>
#include <cstring>
#include <map>
#include <unordered_map>

#include "io/checked_size.h"
#include "tensor/error.h"

namespace promoe::io::pickle {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "a bool";
    case Kind::Int:
      return "an int";
    case Kind::Float:
      return "a float";
    case Kind::String:
      return "a string";
    case Kind::Bytes:
      return "bytes";
    case Kind::Tuple:
      return "a tuple";
    case Kind::List:
      return "a list";
    case Kind::Dict:
      return "a dict";
    case Kind::Global:
      return "a global";
    case Kind::Storage:
      return "a storage";
    case Kind::Tensor:
      return "a tensor";
  }
  return "?";
}

namespace {

struct StorageClass {
  const char* name;
  StorageType type;
  uint64_t item;
};
constexpr StorageClass kStorageClasses[] = {
    {"FloatStorage", StorageType::F32, 4}, {"DoubleStorage", StorageType::F64, 8},
    {"HalfStorage", StorageType::F16, 2},  {"BFloat16Storage", StorageType::BF16, 2},
    {"LongStorage", StorageType::I64, 8},  {"IntStorage", StorageType::I32, 4},
    {"ShortStorage", StorageType::I16, 2}, {"CharStorage", StorageType::I8, 1},
    {"ByteStorage", StorageType::U8, 1},   {"BoolStorage", StorageType::Bool, 1}};

constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kRebuildFromType = "torch._tensor._rebuild_from_type_v2";
constexpr const char* kTensorTypes[] = {"torch.Tensor", "torch.nn.parameter.Parameter"};
constexpr size_t kMaxGlobalName = 256;
constexpr size_t kMaxDims = 64;

bool is_allowed_global(const std::string& name) {
  if (name == kOrderedDict || name == kRebuildTensor || name == kRebuildParameter || name == kRebuildFromType)
    return true;
  for (const char* t : kTensorTypes)
    if (name == t) return true;
  for (const StorageClass& c : kStorageClasses)
    if (name == std::string("torch.") + c.name) return true;
  return false;
}

}  // namespace

const char* storage_type_name(StorageType t) {
  for (const StorageClass& c : kStorageClasses)
    if (c.type == t) return c.name;
  return "?";
}

uint64_t storage_item_size(StorageType t) {
  for (const StorageClass& c : kStorageClasses)
    if (c.type == t) return c.item;
  return 1;
}

const Object* Object::find(std::string_view key) const {
  if (kind != Kind::Dict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::String && k->text == key) return v;
  return nullptr;
}

const Object* Object::find(int64_t key) const {
  if (kind != Kind::Dict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::Int && k->integer == key) return v;
  return nullptr;
}

Object* Pickle::make(Kind k) {
  arena_.emplace_back();
  arena_.back().kind = k;
  return &arena_.back();
}

class Unpickler {
 public:
  Unpickler(Pickle& out, std::string_view bytes, const std::string& what) : out_(out), in_(bytes), what_(what) {}

  Object* run() {
    while (true) {
      op_at_ = pos_;
      const uint8_t op = byte();
      switch (op) {
        case 0x80:  // PROTO
          if (byte() > 5) fail("unsupported pickle protocol");
          break;
        case 0x95:  // FRAME: a length hint only
          take(8);
          break;
        case '}':
          push(make(Kind::Dict));
          break;
        case ']':
          push(make(Kind::List));
          break;
        case ')':
          push(make(Kind::Tuple));
          break;
        case '(':  // MARK
          marks_.push_back(stack_.size());
          break;
        case '0':  // POP
          pop();
          break;
        case '1':  // POP_MARK
          since_mark();
          break;
        case '2':  // DUP
          push(top());
          break;
        case 'q':  // BINPUT
          memo_[uint_le(1)] = top();
          break;
        case 'r':  // LONG_BINPUT
          memo_[uint_le(4)] = top();
          break;
        case 0x94:  // MEMOIZE
          memo_[memo_.size()] = top();
          break;
        case 'h':  // BINGET
          push(memo(uint_le(1)));
          break;
        case 'j':  // LONG_BINGET
          push(memo(uint_le(4)));
          break;
        case 'K':  // BININT1
          push(integer(int64_t(uint_le(1))));
          break;
        case 'M':  // BININT2
          push(integer(int64_t(uint_le(2))));
          break;
        case 'J':  // BININT: signed 32-bit
          push(integer(int64_t(int32_t(uint32_t(uint_le(4))))));
          break;
        case 0x8a:  // LONG1
          push(integer(long_le(uint_le(1))));
          break;
        case 0x8b:  // LONG4
          push(integer(long_le(uint_le(4))));
          break;
        case 'G': {  // BINFLOAT: big-endian double
          uint64_t bits = 0;
          for (char c : take(8)) bits = bits << 8 | uint8_t(c);
          Object* o = make(Kind::Float);
          o->real = std::bit_cast<double>(bits);
          push(o);
          break;
        }
        case 'X':  // BINUNICODE
        case 'T':  // BINSTRING
          push(text(Kind::String, uint_le(4)));
          break;
        case 0x8c:  // SHORT_BINUNICODE
        case 'U':   // SHORT_BINSTRING
          push(text(Kind::String, uint_le(1)));
          break;
        case 0x8d:  // BINUNICODE8
          push(text(Kind::String, uint_le(8)));
          break;
        case 'B':  // BINBYTES
          push(text(Kind::Bytes, uint_le(4)));
          break;
        case 'C':  // SHORT_BINBYTES
          push(text(Kind::Bytes, uint_le(1)));
          break;
        case 0x8e:  // BINBYTES8
          push(text(Kind::Bytes, uint_le(8)));
          break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          Object* o = make(Kind::Bool);
          o->integer = op == 0x88;
          push(o);
          break;
        }
        case 'N':
          push(make(Kind::None));
          break;
        case 't':
          push(tuple(since_mark()));
          break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          if (stack_.size() < n + floor()) fail("stack underflow");
          std::vector<Object*> items(stack_.end() - long(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(tuple(std::move(items)));
          break;
        }
        case 's': {  // SETITEM
          Object* v = pop();
          Object* k = pop();
          as(top(), Kind::Dict, "SETITEM target")->entries.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Object*> kv = since_mark();
          if (kv.size() % 2) fail("SETITEMS with an odd number of items");
          Object* d = as(top(), Kind::Dict, "SETITEMS target");
          for (size_t i = 0; i < kv.size(); i += 2) d->entries.emplace_back(kv[i], kv[i + 1]);
          break;
        }
        case 'a': {  // APPEND
          Object* v = pop();
          as(top(), Kind::List, "APPEND target")->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<Object*> vs = since_mark();
          Object* l = as(top(), Kind::List, "APPENDS target");
          l->items.insert(l->items.end(), vs.begin(), vs.end());
          break;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push(global(module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Object* name = as(pop(), Kind::String, "STACK_GLOBAL name");
          Object* module = as(pop(), Kind::String, "STACK_GLOBAL module");
          push(global(module->text + "." + name->text));
          break;
        }
        case 'R': {  // REDUCE
          Object* args = as(pop(), Kind::Tuple, "REDUCE arguments");
          Object* fn = as(pop(), Kind::Global, "REDUCE callable");
          push(call(fn->text, args->items));
          break;
        }
        case 'Q':  // BINPERSID
          push(persistent(as(pop(), Kind::Tuple, "persistent id")));
          break;
        case 'b': {  // BUILD: only OrderedDict's attribute state (torch's `_metadata`), ignored
          Object* state = pop();
          as(top(), Kind::Dict, "BUILD target");
          if (state->kind != Kind::Dict && state->kind != Kind::None) fail("BUILD with ", kind_name(state->kind));
          break;
        }
        case '.': {  // STOP
          Object* root = pop();
          if (!stack_.empty() || !marks_.empty()) fail("values left on the stack at STOP");
          return root;
        }
        default:
          fail("opcode 0x", hex(op), " is not used by torch.save state dicts");
      }
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    PROMOE_FAIL(what_, " at byte ", op_at_, ": ", args...);
  }

  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return {d[b >> 4], d[b & 15]};
  }

  std::string_view take(uint64_t n) {
    if (n > in_.size() - pos_) fail("truncated pickle (", n, " bytes needed, ", in_.size() - pos_, " left)");
    std::string_view s = in_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  uint8_t byte() { return uint8_t(take(1)[0]); }
  uint64_t uint_le(int n) {
    uint64_t v = 0;
    std::string_view s = take(uint64_t(n));
    for (int i = n - 1; i >= 0; --i) v = v << 8 | uint8_t(s[size_t(i)]);
    return v;
  }
  // A little-endian two's complement integer of n bytes (LONG1 / LONG4).
  int64_t long_le(uint64_t n) {
    if (n > 8) fail("integer of ", n, " bytes does not fit 64 bits");
    if (n == 0) return 0;
    std::string_view s = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | uint8_t(s[i]);
    if (n < 8 && (uint8_t(s[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return int64_t(v);
  }
  std::string line() {
    const size_t nl = in_.find('\n', pos_);
    if (nl == std::string_view::npos || nl - pos_ > kMaxGlobalName) fail("malformed GLOBAL name");
    std::string s(in_.substr(pos_, nl - pos_));
    pos_ = nl + 1;
    return s;
  }

  Object* make(Kind k) { return out_.make(k); }
  Object* integer(int64_t v) {
    Object* o = make(Kind::Int);
    o->integer = v;
    return o;
  }
  Object* text(Kind k, uint64_t n) {
    Object* o = make(k);
    o->text = std::string(take(n));
    return o;
  }
  Object* tuple(std::vector<Object*> items) {
    Object* o = make(Kind::Tuple);
    o->items = std::move(items);
    return o;
  }

  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Object* o) { stack_.push_back(o); }
  Object* top() const {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  Object* pop() {
    Object* o = top();
    stack_.pop_back();
    return o;
  }
  std::vector<Object*> since_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + long(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Object* memo(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo entry ", key, " read before it was written");
    return it->second;
  }
  Object* as(Object* o, Kind k, const char* role) const {
    if (o->kind != k) fail(role, " is ", kind_name(o->kind), ", not ", kind_name(k));
    return o;
  }

  Object* global(const std::string& name) {
    if (!is_allowed_global(name)) fail("unknown global '", name, "' (not part of a state dict; refusing to load it)");
    Object* o = make(Kind::Global);
    o->text = name;
    return o;
  }

  // A non-negative int argument.
  uint64_t count(const Object* o, const char* role) const {
    if (o->kind != Kind::Int || o->integer < 0) fail(role, " must be a non-negative int");
    return uint64_t(o->integer);
  }
  std::vector<int64_t> dims(const Object* o, const char* role) const {
    if (o->kind != Kind::Tuple || o->items.size() > kMaxDims) fail(role, " must be a tuple of at most 64 ints");
    std::vector<int64_t> v;
    for (const Object* d : o->items) {
      const uint64_t n = count(d, role);
      if (n > kMaxFileSize) fail(role, " entry ", n, " exceeds 2^62");
      v.push_back(int64_t(n));
    }
    return v;
  }

  Object* call(const std::string& fn, const std::vector<Object*>& args) {
    if (fn == kOrderedDict) {
      if (!args.empty()) fail("OrderedDict is only built empty here");
      return make(Kind::Dict);
    }
    if (fn == kRebuildTensor) return rebuild_tensor(args);
    if (fn == kRebuildParameter) {  // (tensor, requires_grad, backward_hooks)
      if (args.size() != 3) fail("_rebuild_parameter takes 3 arguments, got ", args.size());
      return as(args[0], Kind::Tensor, "_rebuild_parameter's data");
    }
    if (fn == kRebuildFromType) {  // (func, type, args, state)
      if (args.size() != 4) fail("_rebuild_from_type_v2 takes 4 arguments, got ", args.size());
      const std::string& f = as(args[0], Kind::Global, "_rebuild_from_type_v2's function")->text;
      const std::string& type = as(args[1], Kind::Global, "_rebuild_from_type_v2's type")->text;
      bool tensor_type = false;
      for (const char* t : kTensorTypes) tensor_type = tensor_type || type == t;
      if (!tensor_type) fail("_rebuild_from_type_v2 of type '", type, "'");
      if (f != kRebuildTensor && f != kRebuildParameter) fail("_rebuild_from_type_v2 calling '", f, "'");
      return call(f, as(args[2], Kind::Tuple, "_rebuild_from_type_v2's arguments")->items);
    }
    fail("'", fn, "' cannot be called here");
  }

  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  Object* rebuild_tensor(const std::vector<Object*>& args) {
    if (args.size() != 6 && args.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", args.size());
    Object* t = make(Kind::Tensor);
    TensorRef& r = t->tensor;
    r.storage = as(args[0], Kind::Storage, "a tensor's storage");
    r.offset = count(args[1], "a tensor's storage offset");
    r.shape = dims(args[2], "a tensor's size");
    r.strides = dims(args[3], "a tensor's stride");
    if (r.shape.size() != r.strides.size())
      fail("a tensor has ", r.shape.size(), " sizes but ", r.strides.size(), " strides");
    // The view must lie inside its storage: offset + sum((size - 1) * stride) < numel.
    const uint64_t numel = checked_numel(r.shape, what_);
    uint64_t last = r.offset;
    for (size_t d = 0; d < r.shape.size() && numel > 0; ++d)
      last = checked_add(last, checked_mul(uint64_t(r.shape[d] - 1), uint64_t(r.strides[d]), what_), what_);
    const uint64_t have = r.storage->storage.numel;
    if (numel > 0 ? last >= have : r.offset > have)
      fail("a tensor of ", numel, " elements at offset ", r.offset, " reaches element ", last, " of storage '",
           r.storage->storage.key, "', which holds ", have);
    out_.tensors_.push_back(t);
    return t;
  }

  Object* persistent(const Object* pid) {
    const std::vector<Object*>& f = pid->items;
    if (f.size() != 5 || f[0]->kind != Kind::String || f[0]->text != "storage")
      fail("persistent id is not ('storage', type, key, location, numel)");
    const std::string& cls = as(f[1], Kind::Global, "storage type")->text;
    StorageRef s;
    bool known = false;
    for (const StorageClass& c : kStorageClasses)
      if (cls == std::string("torch.") + c.name) s.type = c.type, known = true;
    if (!known) fail("'", cls, "' is not a storage type");
    s.key = as(f[2], Kind::String, "storage key")->text;
    s.location = as(f[3], Kind::String, "storage location")->text;
    s.numel = count(f[4], "storage size");
    checked_bytes(s.numel, storage_item_size(s.type), what_ + ": storage '" + s.key + "'");
    auto it = storages_.find(s.key);
    if (it != storages_.end()) {
      const StorageRef& seen = it->second->storage;
      if (seen.type != s.type || seen.numel != s.numel) fail("storage '", s.key, "' appears with two types or sizes");
      return it->second;
    }
    Object* o = make(Kind::Storage);
    o->storage = s;
    storages_[s.key] = o;
    out_.storages_.push_back(o);
    return o;
  }

  Pickle& out_;
  std::string_view in_;
  const std::string& what_;
  size_t pos_ = 0, op_at_ = 0;
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
  std::map<std::string, Object*> storages_;
};

Pickle::Pickle(std::string_view bytes, const std::string& what) {
  Unpickler u(*this, bytes, what);
  root_ = u.run();
}

}  // namespace promoe::io::pickle
