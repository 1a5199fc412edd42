// safetensors files: an 8-byte little-endian header length, a JSON header (dtype, shape and
// data_offsets per tensor, plus an optional `__metadata__` map of strings), then raw
// little-endian row-major data. Supported dtypes: F32, F64, I64 and BF16 (kept as bf16).
// Reading validates the whole file and throws promoe::Error naming the file and the problem;
// writing goes through write_file_atomic, so an interrupted write never tears the destination.
#pragma once
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

// Writes tensors (any view, any device; stored contiguous) in the given order, plus metadata.
void write_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const Metadata& metadata = {});

// `t` as an I64 tensor: I64 as is; F32/F64 when every value is a finite integer, else throws
// naming `what` and the first offending element.
Tensor to_index_tensor(const Tensor& t, const std::string& what);

// "F32", "F64", "I64", "BF16".
const char* safetensors_dtype_name(DType dtype);

}  // namespace promoe::io
