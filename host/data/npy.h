// NPY reader and writer: the format numpy.save / numpy.load use, ae's binary exchange format for
// matrices (training data in, codes / reconstructions / per-sample errors out).
#pragma once

#include <cstdint>
#include <string>

#include "host/data/matrix.h"

namespace ae {

// Reads an NPY file (format versions 1.0, 2.0 and 3.0) as a float32 matrix:
//   - shape (n,) gives [n, 1]; (n, m) gives [n, m]; (n, d1, d2, ...) — an image stack — gives
//     [n, d1·d2·...] (each sample flattened in C order). (n, H, W) records image_shape {1, H, W},
//     (n, C, H, W) records {C, H, W}; other shapes record none.
//   - dtypes: bool, uint8/16/32/64, int8/16/32/64, float16/32/64, little- or big-endian as the
//     descr says. Values are converted as they are: uint8 stays 0..255, NOT scaled to [0, 1]
//     (unlike IDX images, which ae scales because that format is only ever MNIST-style pixels);
//     bringing data to a range is the normaliser's job (--normalize minmax). int64/uint64/int32
//     beyond 2^24 and float64 round to the nearest float32.
//   - C order only. Fortran order is refused unless it is the same layout (at most one dimension
//     larger than 1).
// Refused with the path and the problem: bad magic or version, header parse errors, object /
// structured / string / complex arrays (the dtype is named and the supported ones listed), a
// 0-d array, truncated data or trailing bytes, NaN or Inf in float data, float64 values beyond
// the float32 range. max_rows >= 0 reads only the first min(max_rows, n) rows (the file size is
// still checked against the header).
Matrix read_npy(const std::string& path, int64_t max_rows = -1);

// Writes data as an NPY v1.0 file holding a little-endian float32 array of shape (rows, cols).
// Throws ae::Error on negative sizes or I/O errors; never leaves a partial file behind.
void save_npy(const std::string& path,
              const float* data,  // [rows, cols], row-major
              int64_t rows, int64_t cols);
// The same for bytes: a uint8 array ('|u1') of shape (rows, cols), e.g. packed binary codes.
void save_npy_u8(const std::string& path, const uint8_t* data,  // [rows, cols]
                 int64_t rows, int64_t cols);
inline void save_npy(const std::string& path, const Matrix& m) {
  save_npy(path, m.data.data(), m.rows, m.cols);
}

}  // namespace ae
