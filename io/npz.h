// NumPy .npz archives: a zip file of .npy members ("arr_0.npy", ...), stored (np.savez) or deflated
// (np.savez_compressed), with or without zip64 records. Reading walks the central directory, checks
// every size and offset against the file before allocating, inflates through zlib, verifies each
// member's CRC-32 and parses it in memory with io/npy.h's parser. Writing produces what np.load
// reads.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::io {

// Members by name without ".npy" (e.g. "arr_0"), as CPU tensors: '<f4' F32, '<f8' F64, '<i8' I64;
// '<i4' and unsigned bytes ('|u1') widened to I64. Throws promoe::Error naming the file and member.
std::map<std::string, Tensor> read_npz(const std::string& path);

struct NpzMember {
  std::string name;    // "arr_0" (".npy" is appended)
  Tensor tensor;       // F32, F64 or I64; any view, any device
  bool uint8 = false;  // store as '|u1': every value must be an integer in [0, 255]
};

// Writes the members in order, atomically; deflated when `compress`.
void write_npz(const std::string& path, const std::vector<NpzMember>& members, bool compress = false);

}  // namespace promoe::io
