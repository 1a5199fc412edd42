// PyTorch .pth files as torch.save (PyTorch >= 1.6) writes them: a zip archive holding
// "<prefix>/data.pkl" (the pickled object, read by io/pickle.h's restricted reader) and one stored
// member "<prefix>/data/<key>" per storage. Opening reads the central directory and data.pkl only
// and checks every storage member and every tensor view against the bytes really present; a
// tensor's values are read on demand, only the storage bytes its view spans, so files larger than
// memory are read one tensor at a time. Errors throw promoe::Error naming the file.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "io/pickle.h"
#include "io/zip_reader.h"
#include "tensor/tensor.h"

namespace promoe::io {

class PthFile {
 public:
  explicit PthFile(const std::string& path);

  const std::string& path() const { return path_; }
  const pickle::Object& root() const { return pickle_->root(); }
  const pickle::Pickle& pickle() const { return *pickle_; }

  // The shape of a Kind::Tensor object.
  static Shape shape(const pickle::Object& tensor);
  // Its values as a contiguous CPU tensor: F32 from float, half and bfloat16 storages, F64 from
  // double ones, I64 from integer and bool ones. A view covering its whole storage is checked
  // against the member's CRC-32.
  Tensor load(const pickle::Object& tensor) const;

 private:
  std::string path_;
  std::unique_ptr<ZipReader> zip_;
  std::unique_ptr<pickle::Pickle> pickle_;
  std::map<std::string, const ZipMember*> records_;  // storage key -> its member
};

}  // namespace promoe::io
