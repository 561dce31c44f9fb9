// One entry point for every data file a user hands ae (--data, --val, --codes, --labels): the
// reader is chosen by the file's content — IDX and NPY by their magic bytes — and only text falls
// back to the name (.csv/.tsv/.txt), so a renamed or extension-less IDX file still loads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "host/data/csv.h"

namespace ae {

struct LoadOptions {
  CsvOptions csv;         // CSV only; label_column / columns on an IDX or NPY file are refused
  int64_t max_rows = -1;  // >= 0: only the first min(max_rows, n) rows
  // The rows' image shape {C, H, W} (parse_chw_shape), for a file that has none of its own (CSV, a
  // 2-D NPY): C·H·W must equal the column count. A file with its own (Matrix::image_shape) must
  // agree. Empty: none given. `image_shape_flag` names where it came from in messages.
  std::vector<int64_t> image_shape;
  std::string image_shape_flag = "--image-shape";
};

// Reads a data set as [rows, features] float32 (+ text labels when csv.label_column is set):
//   - IDX (0x00 0x00 type rank), plain or gzip-compressed: read_idx_matrix (u8 scaled to [0, 1]);
//   - NPY ("\x93NUMPY"): read_npy (values as they are);
//   - otherwise a text file named *.csv, *.tsv or *.txt: read_csv.
// A file with none of these is refused with the formats ae reads; an .npz (zip) file with how to
// extract its arrays. Zero rows or zero columns are refused. Every message names the path.
//   features.image_shape is the file's own shape (IDX and NPY image stacks) or opt.image_shape.
CsvData load_dataset(const std::string& path, const LoadOptions& opt = {});

// The text of an image-shape flag, "CxHxW" ("1x28x28"; also 'X' or '×'), as {C, H, W}, each in
// 1..k_max_image_side. Empty text (the flag not given) gives {}. Anything else throws one line
// naming the flag: "--image-shape '1x28': expected CxHxW (channels, height, width), e.g. 1x28x28".
inline constexpr int64_t k_max_image_side = int64_t{1} << 20;  // C·H·W then fits int64 with room
std::vector<int64_t> parse_chw_shape(std::string_view text, std::string_view flag = "--image-shape");
// {3, 32, 32} → "3x32x32", the form the flag and compact specs take.
std::string chw_text(const std::vector<int64_t>& shape);

// Rows for a model whose input is `input_shape` ({C, H, W} of a convolutional spec; empty: a flat
// input, nothing to check): rows with an image shape must have exactly this one; rows without one
// are read as C·H·W values in NCHW order (their count is the caller's check). Throws one line:
// "<data> holds 3x32x32 images but <input> is 1x28x28", e.g. data = "--data x.npy" and
// input = "the spec's input", with the transpose to make when the rows look channels-last.
void check_image_shape(const Matrix& x, const std::vector<int64_t>& input_shape, const std::string& data,
                       const std::string& input);

// Reads one integer label per row (e.g. 0/1 with 1 = anomaly, or a class number):
//   - IDX: a rank-1 integer file (read_idx_labels);
//   - NPY: shape (n,) or (n, 1), integer-valued (any numeric dtype);
//   - CSV: a single column (header detected), or the column `column` (name or 0-based index) of a
//     wider CSV. `column` is refused for IDX and NPY.
// Errors name path:line (CSV) or the 0-based row (NPY).
std::vector<int32_t> load_labels(const std::string& path, const std::string& column = "", int64_t max_rows = -1);

// Writes a matrix in the format the extension names: .npy (float32 NPY; header ignored, NPY has no
// column names), .csv (comma-separated) or .tsv (tab-separated), case-insensitive. Anything else is
// refused naming the extension and the choices. Atomic like every ae writer.
void save_matrix(const std::string& path,
                 const float* data,  // [rows, cols], row-major
                 int64_t rows, int64_t cols, const std::vector<std::string>& header = {});
inline void save_matrix(const std::string& path, const Matrix& m) {
  save_matrix(path, m.data.data(), m.rows, m.cols, m.column_names);
}

}  // namespace ae
