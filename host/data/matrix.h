// Matrix: the one in-memory form of a data set in ae, whatever file it came from (IDX, NPY, CSV):
// a dense row-major float32 matrix, one sample per row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ae {

// data[r * cols + c], data.size() == rows * cols.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;                // [rows, cols]
  std::vector<std::string> column_names;  // [cols] when the source names its columns (CSV header), else empty
  // {C, H, W} when each row is an image: the file's own (IDX [n, H, W] or [n, C, H, W], NPY (n, H, W)
  // or (n, C, H, W); a missing C is 1) or --image-shape's; empty otherwise. C·H·W == cols, and a row
  // is its image's NCHW flattening, which is the row-major order itself: the data is never copied.
  std::vector<int64_t> image_shape;
};

}  // namespace ae
