// Format dispatch for data files: sniff the first bytes, then hand the file to its reader. The
// readers do all validation; this file only chooses, and refuses options that do not fit the format.
#include "host/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "host/data/file_read.h"
#include "host/data/idx.h"
#include "host/data/npy.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

constexpr const char* k_formats =
    "ae reads IDX (MNIST-style, optionally gzip-compressed), NPY (numpy.save) and CSV/TSV text "
    "(named .csv, .tsv or .txt)";

enum class Format { idx, npy, csv };

int64_t shape_product(const std::vector<int64_t>& shape) {  // each side ≤ k_max_image_side: no overflow
  int64_t n = 1;
  for (int64_t v : shape) n *= v;
  return n;
}

const char* format_name(Format f) {
  return f == Format::idx ? "an IDX file" : f == Format::npy ? "an NPY file" : "a CSV file";
}

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e;
}

bool looks_idx_by_name(const std::string& path) {
  std::string p = path;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return p.find("idx") != std::string::npos || p.find("ubyte") != std::string::npos || lower_extension(p) == ".gz";
}

// The first bytes of a gzip stream after decompression (fewer when it is shorter or corrupt; the
// IDX reader then reports the precise problem).
std::string gunzip_prefix(const std::string& path, size_t n) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) AE_FAIL(path, ": cannot open gzip stream");
  std::string out(n, '\0');
  const int got = gzread(gz, out.data(), static_cast<unsigned>(n));
  gzclose(gz);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

Format detect(const std::string& path) {
  const std::string head = read_file_prefix(path, 8, "a data file (IDX, NPY or CSV)");
  const auto byte = [&](size_t i) -> unsigned { return i < head.size() ? static_cast<uint8_t>(head[i]) : 0x100u; };
  if (byte(0) == 0x1F && byte(1) == 0x8B) {
    const std::string inner = gunzip_prefix(path, 4);
    if (inner.size() < 2 || (inner[0] == 0 && inner[1] == 0)) return Format::idx;
    AE_FAIL(path, ": gzip-compressed, but the content is not IDX; ae decompresses only IDX files, so gunzip ",
            "it first (", k_formats, ")");
  }
  if (byte(0) == 0 && byte(1) == 0) return Format::idx;
  if (head.compare(0, 6, "\x93NUMPY") == 0) return Format::npy;
  if (head.compare(0, 4, "PK\x03\x04") == 0)
    AE_FAIL(path, ": a zip archive (an .npz?); ae reads single arrays: extract one with ",
            "np.save('x.npy', np.load(path)['name'])");
  const std::string ext = lower_extension(path);
  if (ext == ".csv" || ext == ".tsv" || ext == ".txt") return Format::csv;
  // Named like a binary format but without its magic: let that reader say what is wrong.
  if (ext == ".npy") return Format::npy;
  if (looks_idx_by_name(path)) return Format::idx;
  AE_FAIL(path, ": unrecognised data format (not IDX or NPY by content, and not named .csv/.tsv/.txt); ", k_formats);
}

// LoadOptions::image_shape on the rows read from `path`: their C·H·W, and the file's own shape.
void give_image_shape(Matrix& m, const LoadOptions& opt, const std::string& path) {
  const std::string given = chw_text(opt.image_shape);
  if (opt.image_shape.size() != 3) AE_FAIL(opt.image_shape_flag, " ", given, ": an image shape is C, H and W");
  if (!m.image_shape.empty() && m.image_shape != opt.image_shape)
    AE_FAIL(path, ": holds ", chw_text(m.image_shape), " images (the file's own shape) but ", opt.image_shape_flag, " says ",
            given, "; drop the flag or give the file's shape");
  const int64_t n = shape_product(opt.image_shape);
  if (n != m.cols)
    AE_FAIL(path, ": ", opt.image_shape_flag, " ", given, " is ", n, " values per row (C·H·W), but the file's rows hold ",
            m.cols);
  m.image_shape = opt.image_shape;
}

}  // namespace

CsvData load_dataset(const std::string& path, const LoadOptions& opt) {
  const Format f = detect(path);
  if (f != Format::csv && (!opt.csv.label_column.empty() || !opt.csv.columns.empty()))
    AE_FAIL(path, ": is ", format_name(f), "; a label column and a column selection apply to CSV files only");
  CsvData d;
  switch (f) {
    case Format::idx:
      d.features = read_idx_matrix(path, opt.max_rows);
      break;
    case Format::npy:
      d.features = read_npy(path, opt.max_rows);
      break;
    case Format::csv:
      d = read_csv(path, opt.csv, opt.max_rows);
      break;
  }
  if (opt.max_rows != 0 && d.features.rows == 0) AE_FAIL(path, ": holds no rows (no samples to use)");
  if (d.features.cols == 0)
    AE_FAIL(path, ": has ", d.features.rows, " rows of 0 features; nothing to train on or encode");
  if (!opt.image_shape.empty()) give_image_shape(d.features, opt, path);
  return d;
}

std::vector<int64_t> parse_chw_shape(std::string_view text, std::string_view flag) {
  if (text.empty()) return {};
  const auto bad = [&] {
    AE_FAIL(flag, " ", quote_bytes(text, 40, '\''), ": expected CxHxW (channels, height, width), e.g. 1x28x28");
  };
  // Split at every 'x', 'X' or '×' (U+00D7, two bytes in UTF-8).
  std::vector<std::string_view> parts;
  const std::string_view times = "×";
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t sep = text[i] == 'x' || text[i] == 'X' ? 1 : text.substr(i).starts_with(times) ? times.size() : 0;
    if (sep == 0) {
      ++i;
      continue;
    }
    parts.push_back(text.substr(start, i - start));
    i += sep;
    start = i;
  }
  parts.push_back(text.substr(start));
  if (parts.size() != 3) bad();
  std::vector<int64_t> shape;
  for (const std::string_view p : parts) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || p[0] == '+' || p[0] == '-' || ec == std::errc::invalid_argument || end != p.data() + p.size()) bad();
    if (ec == std::errc::result_out_of_range || v < 1 || v > k_max_image_side)
      AE_FAIL(flag, " ", quote_bytes(text, 40, '\''), ": C, H and W must each be 1..", k_max_image_side);
    shape.push_back(v);
  }
  return shape;
}

std::string chw_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

void check_image_shape(const Matrix& x, const std::vector<int64_t>& input_shape, const std::string& data,
                       const std::string& input) {
  if (input_shape.empty() || x.image_shape.empty() || x.image_shape == input_shape) return;
  const std::vector<int64_t>&d = x.image_shape, &s = input_shape;
  // An (n, H, W, C) array, as TensorFlow and PIL keep images, reads as HxWxC.
  const bool channels_last = d.size() == 3 && s.size() == 3 && d[0] == s[1] && d[1] == s[2] && d[2] == s[0];
  // With one channel, (H, W, 1) and (1, H, W) are the same bytes (Keras keeps MNIST that way).
  if (channels_last && s[0] == 1) return;
  AE_FAIL(data, " holds ", chw_text(d), " images but ", input, " is ", chw_text(s),
          channels_last ? "; the rows look channels-last (H, W, C) and ae reads C, H, W: move the channel axis first "
                          "(NumPy: np.transpose(x, (0, 3, 1, 2)))"
                        : "");
}

std::vector<int32_t> load_labels(const std::string& path, const std::string& column, int64_t max_rows) {
  const Format f = detect(path);
  if (f != Format::csv && !column.empty())
    AE_FAIL(path, ": is ", format_name(f), "; a labels column (\"", column, "\") applies to CSV files only");
  std::vector<int32_t> labels;
  switch (f) {
    case Format::idx:
      labels = read_idx_labels(path, max_rows);
      break;
    case Format::csv:
      labels = read_csv_int_column(path, column, max_rows);
      break;
    case Format::npy: {
      const Matrix m = read_npy(path, max_rows);
      if (m.cols != 1)
        AE_FAIL(path, ": labels must be one value per row (shape (n,) or (n, 1)); this array has ", m.cols,
                " values per row");
      labels.resize(static_cast<size_t>(m.rows));
      for (int64_t r = 0; r < m.rows; ++r) {
        const float v = m.data[static_cast<size_t>(r)];
        if (v != std::floor(v) || std::fabs(v) > 2147483520.0f)  // largest float below 2^31
          AE_FAIL(path, ": row ", r, " (0-based): ", v, " is not an integer label (expected 0/1, 1 = anomaly, ",
                  "or a class number)");
        labels[static_cast<size_t>(r)] = static_cast<int32_t>(v);
      }
      break;
    }
  }
  if (max_rows != 0 && labels.empty()) AE_FAIL(path, ": holds no labels");
  return labels;
}

void save_matrix(const std::string& path, const float* data, int64_t rows, int64_t cols,
                 const std::vector<std::string>& header) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy")
    save_npy(path, data, rows, cols);
  else if (ext == ".csv")
    save_csv(path, data, rows, cols, header, ',');
  else if (ext == ".tsv")
    save_csv(path, data, rows, cols, header, '\t');
  else
    AE_FAIL(path, ": cannot choose an output format from the extension ",
            ext.empty() ? std::string("(none)") : "\"" + ext + "\"", "; use .npy (NumPy float32), .csv or .tsv");
}

}  // namespace ae
