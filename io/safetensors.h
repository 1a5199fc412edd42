// safetensors files: an 8-byte little-endian header length, a JSON header (dtype, shape and
// data_offsets per tensor, plus an optional `__metadata__` map of strings), then raw
// little-endian row-major data. Supported dtypes: F32, F64, I64 and BF16 (kept as bf16), and F16
// for reading (converted to F32 exactly, as fp16-only diffusers model folders store weights).
// Reading validates the whole header (and the data section's extent) and throws promoe::Error
// naming the file and the problem; writing goes through write_file_atomic, so an interrupted write
// never tears the destination. Both can stream, one tensor at a time.
#pragma once
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// The contents of one safetensors file: CPU tensors by name and the `__metadata__` strings.
struct SafeTensors {
  std::string path;                       // where it was read from, for error messages
  std::map<std::string, Tensor> tensors;  // sorted by name
  std::vector<std::string> order;         // names in data-offset order, as laid out in the file
  Metadata meta;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // Throws "file X has no tensor named Y".
  const Tensor& get(const std::string& name) const;
  // An integer-valued tensor as I64: stored as I64, or as exactly integral F32/F64 values.
  Tensor get_index(const std::string& name) const;
  bool has_metadata(const std::string& key) const { return meta.count(key) != 0; }
  // Throws "file X has no metadata key Y".
  const std::string& metadata(const std::string& key) const;
};

// Reads and validates a whole file; every tensor lands on the CPU.
SafeTensors read_safetensors(const std::string& path);

// A file whose header is read and validated (as read_safetensors does) but whose tensors are read
// one at a time, for files larger than memory.
class SafeTensorsReader {
 public:
  explicit SafeTensorsReader(const std::string& path);
  ~SafeTensorsReader();
  SafeTensorsReader(const SafeTensorsReader&) = delete;
  SafeTensorsReader& operator=(const SafeTensorsReader&) = delete;

  const std::string& path() const { return path_; }
  const Metadata& metadata() const { return meta_; }
  const std::vector<std::string>& names() const { return order_; }  // in data-offset order
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  // Throw "safetensors file X has no tensor named Y" when absent.
  DType dtype(const std::string& name) const;
  const Shape& shape(const std::string& name) const;
  Tensor load(const std::string& name) const;  // a new CPU tensor

 private:
  struct Entry {
    DType dtype;  // as loaded: F32 for an F16 tensor
    Shape shape;
    uint64_t begin, end;
    bool f16;
  };
  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t data_start_ = 0;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
  Metadata meta_;
};

// Writes tensors (any view, any device; stored contiguous) in the given order, plus metadata.
void write_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const Metadata& metadata = {});

// The name, dtype and shape of one tensor of a file written by write_safetensors_streamed.
struct TensorSpec {
  std::string name;
  DType dtype;
  Shape shape;
};

// Writes the tensors of `specs` in order, asking `produce(i)` for each one only when its bytes
// are due, so a file larger than memory can be written one tensor at a time. Every produced tensor
// must have its spec's dtype and shape (any view, any device). Atomic, as write_safetensors.
void write_safetensors_streamed(const std::string& path, const std::vector<TensorSpec>& specs, const Metadata& metadata,
                                const std::function<Tensor(size_t)>& produce);

// `t` as an I64 tensor: I64 as is; F32/F64 when every value is a finite integer, else throws
// naming `what` and the first offending element.
Tensor to_index_tensor(const Tensor& t, const std::string& what);

// "F32", "F64", "I64", "BF16".
const char* safetensors_dtype_name(DType dtype);

}  // namespace promoe::io
