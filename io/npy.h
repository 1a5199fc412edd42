// NumPy .npy files (format versions 1.0 to 3.0): a magic string, a Python-literal header dict
// {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), } and the raw C-order data.
// Supported dtypes: '<f4' (F32), '<f8' (F64), '<i8' (I64), and '<i4' and '|u1' (widened to I64).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace promoe::io {

// Reads a whole .npy file (mapped, see io/mapped_file.h) into a CPU tensor; throws promoe::Error
// naming the file and the problem (bad magic, unsupported dtype, Fortran order, malformed header,
// truncated data).
Tensor read_npy(const std::string& path);
// The same from the `size` bytes of a .npy image in memory (e.g. an .npz member); `what` starts
// every error message. Every size is checked against `size` before the tensor is allocated.
Tensor parse_npy(const uint8_t* data, uint64_t size, const std::string& what);

// Writes an F32, F64 or I64 tensor (any view) as a version 1.0 .npy file, atomically.
void write_npy(const std::string& path, const Tensor& t);

}  // namespace promoe::io
