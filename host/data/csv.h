// CSV reader and writer: how users bring their own tabular data to ae and take results back to
// pandas or a spreadsheet. The reader is strict: every row must have a number in every feature cell,
// and anything else (a ragged row, an empty or non-numeric cell, NaN, Inf) is refused with one line
// `path:line:column: problem` (1-based; column = field index, plus its name when there is a header),
// because silently dropping or imputing a row would change the model a user trains.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/data/matrix.h"

namespace ae {

struct CsvOptions {
  // detect: the first row is a header when any of its non-empty cells is not a number (cells of the
  // label column, when it is given by index, are not looked at: text labels are not a header).
  enum class Header { detect, yes, no } header = Header::detect;
  // The column kept apart from the features as text (CsvData::labels): a header name, or a 0-based
  // index written as text; "" = none. A reference that is both a header name and an index means
  // the name. The same rule applies to `columns`.
  std::string label_column;
  // Feature columns to keep, in this order, by name or 0-based index; empty = all but the label
  // column. Cells of the other columns are not parsed (a text column can simply be left out).
  std::vector<std::string> columns;
  // Field separator; 0 = detect among ',' ';' '\t' from the first lines (quote-aware).
  char delimiter = 0;
  // Read no feature column at all, only the label column (features is then [rows, 0]).
  bool labels_only = false;
};

struct CsvData {
  Matrix features;                  // [rows, kept columns]; column_names filled when there is a header
  std::vector<std::string> labels;  // [rows] when label_column is set, else empty
  std::string label_name;           // the label column's header name ("" without a header)
};

// Reads a CSV/TSV file: RFC 4180 quoting ("a,b", doubled quotes, newlines inside quotes), LF or
// CRLF line ends, a UTF-8 byte-order mark, trailing blank lines. Numbers are parsed with
// std::from_chars (locale-independent, correctly rounded to float32), surrounding spaces and a
// leading '+' allowed; magnitudes below the float32 range become (signed) zero or subnormals.
// max_rows >= 0 stops after that many data rows (the rest of the file is not checked).
// Throws ae::Error naming path:line:column on any malformed input.
CsvData read_csv(const std::string& path, const CsvOptions& opt = {}, int64_t max_rows = -1);

// Reads one integer per row from the CSV column `column` (name or 0-based index; "" = the file
// must have exactly one column), header detected. Cells must be integer-valued numbers ("1",
// "0", "1.0"); errors name path:line:column.
std::vector<int32_t> read_csv_int_column(const std::string& path, const std::string& column, int64_t max_rows = -1);

// Writes rows × cols floats as CSV, atomically (AtomicFile: a crash or error never leaves a partial
// file). Numbers are written with std::to_chars in their shortest form that reads back to the very
// same float (so read_csv(save_csv(x)) == x bit for bit) and independent of the C locale, which
// printf("%.9g") is not. NaN and Inf are written as nan / inf / -inf (read_csv refuses them).
// header: [cols] names, or empty for no header line; names are quoted when they need it.
void save_csv(const std::string& path,
              const float* data,  // [rows, cols], row-major
              int64_t rows, int64_t cols, const std::vector<std::string>& header = {}, char delimiter = ',');

}  // namespace ae
