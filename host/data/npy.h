// NPY writer: ae's binary output for matrices (codes, reconstructions, per-sample errors), the
// format numpy.load reads directly. Float32, C order, 2-D; written atomically (AtomicFile).
#pragma once

#include <cstdint>
#include <string>

#include "host/data/idx.h"  // Matrix

namespace ae {

// Writes data as an NPY v1.0 file holding a little-endian float32 array of shape (rows, cols).
// Throws ae::Error on negative sizes or I/O errors; never leaves a partial file behind.
void save_npy(const std::string& path,
              const float* data,  // [rows, cols], row-major
              int64_t rows, int64_t cols);
inline void save_npy(const std::string& path, const Matrix& m) { save_npy(path, m.data.data(), m.rows, m.cols); }

}  // namespace ae
