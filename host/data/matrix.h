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
};

}  // namespace ae
