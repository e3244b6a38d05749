// numpy's .npy format (one array per file, also the members of .npz archives), read in
// place from memory:
//   "\x93NUMPY" major minor  header length (uint16 for 1.x, uint32 for 2.x/3.x, little-endian)
//   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
//   then the elements in C order.
#pragma once

#include <cstdint>
#include <string>

#include "importers/data/array_dataset.h"

namespace onnx_train {

struct NpyArray {
  DType dtype = DType::Undefined;
  Shape shape;                    // the whole array's: first axis = samples, so rank >= 1
  const uint8_t* data = nullptr;  // the first element, inside the parsed bytes
};

// The unsigned little-endian integer of `bytes` bytes (at most 8) at `p` (npy headers).
uint64_t read_little_endian(const uint8_t* p, int bytes);

// Parses the npy bytes [bytes, bytes + size). `path` names the file (or "data.npz: x.npy")
// in errors: not an npy file, an unsupported version or element type, Fortran order, a
// scalar (no sample axis), or a data part shorter or longer than the header says.
NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& path);

// The column (array_dataset.h) of one field whose samples are all of `array`.
ArrayColumn npy_column(const NpyArray& array, const std::string& path);

}  // namespace onnx_train
