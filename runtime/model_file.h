// ae's model file container: safetensors, so Python's `safetensors` (and PyTorch through it) opens
// what ae writes and the reverse. This layer is only the container: named F32 tensors plus the
// string→string `__metadata__` map. Tensors are F32, BF16 or F16 on disk and fp32 in memory: saving
// rounds to nearest even (kernels/cpu/lowp_round.h, bit for bit as PyTorch and CUDA round), loading
// widens exactly. ae-level meaning (format version, spec, expected names and
// shapes) is checked by the caller. Saving is atomic (AtomicFile); loading validates every field
// and refuses anything malformed with a message naming the file and the field.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header (space-padded so the data
// starts 8-byte aligned), then the data buffer. Header: {"__metadata__": {k: v, ...},
// "<name>": {"dtype": "F32" | "BF16" | "F16", "shape": [...], "data_offsets": [begin, end]}, ...}, offsets relative
// to the buffer start; the tensors tile the buffer exactly, with no gaps and no overlap.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/common/dtype.h"

namespace ae {

struct NamedTensor {
  std::string name;            // e.g. "encoder.0.weight" (PyTorch state_dict keys)
  std::vector<int64_t> shape;  // {} is a scalar (1 element)
  std::vector<float> data;     // row-major, size == product(shape)
  DType dtype = DType::f32;    // how the data is stored in the file (F32, BF16 or F16)
};

struct ModelFile {
  std::vector<NamedTensor> tensors;             // saved in this order; loaded in file (offset) order
  std::map<std::string, std::string> metadata;  // safetensors __metadata__ (string → string)

  // The tensor with this name, or nullptr.
  const NamedTensor* find(std::string_view name) const;
};

// Writes `file` as safetensors at `path`, atomically. Throws ae::Error on duplicate or reserved
// names ("__metadata__"), a data size that does not match the shape, invalid UTF-8, a finite value
// beyond fp16's range in an F16 tensor (it would become inf), or I/O errors. Every check runs
// before anything is written: a refused save leaves no file.
void save_model_file(const std::string& path, const ModelFile& file);

// Reads and fully validates a safetensors file whose tensors are F32, BF16 or F16; each tensor's
// `dtype` says which, its `data` holds the exact fp32 values.
ModelFile load_model_file(const std::string& path);

}  // namespace ae
