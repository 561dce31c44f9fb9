// CSV reader and writer. The reader takes the whole file into one buffer and walks it once: a
// scanner cuts records into fields (unescaping quoted fields in place, so every field is a view into
// the buffer and nothing is allocated per cell), then the kept cells are parsed with from_chars
// straight into the output matrix. Errors carry the record's first line and the field's position.
#include "host/data/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

#include "host/data/file_read.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"

namespace ae {

namespace {

constexpr const char* k_kind = "a CSV file (text, one row per line)";

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits the buffer into records. Quoted fields are unescaped in place (the result is never longer
// than the source), so fields stay views into `buf`, valid until the buffer is destroyed. Spaces
// around an unquoted field are dropped; inside quotes every byte is kept.
class Scanner {
 public:
  Scanner(std::string& buf, size_t start, char delim, const std::string& path)
      : m_p(buf.data() + start), m_end(buf.data() + buf.size()), m_delim(delim), m_path(path) {}

  // The next record's fields; `line` is the 1-based line it starts on. False at the end of input.
  bool next(std::vector<std::string_view>& fields, int64_t& line) {
    if (m_p >= m_end) return false;
    fields.clear();
    line = m_line;
    while (true) {
      char* q = m_p;
      while (q < m_end && *q == ' ' && m_delim != ' ') ++q;
      if (q < m_end && *q == '"') {
        fields.push_back(quoted_field(q, line, fields.size() + 1));
      } else {
        char* e = m_p;
        while (e < m_end && *e != m_delim && *e != '\n' && *e != '\r') ++e;
        fields.push_back(trim(std::string_view(m_p, static_cast<size_t>(e - m_p))));
        m_p = e;
      }
      if (m_p < m_end && *m_p == m_delim) {
        ++m_p;
        continue;
      }
      // End of record: LF, CRLF, a lone CR, or the end of the buffer.
      if (m_p < m_end && *m_p == '\r') ++m_p;
      if (m_p < m_end && *m_p == '\n') ++m_p;
      ++m_line;
      return true;
    }
  }

 private:
  // q points at the opening quote; leaves m_p after the closing quote and any spaces.
  std::string_view quoted_field(char* q, int64_t line, size_t column) {
    char* w = q;  // unescaped bytes are written from the opening quote on
    char* r = q + 1;
    while (true) {
      char* quote = static_cast<char*>(std::memchr(r, '"', static_cast<size_t>(m_end - r)));
      if (!quote)
        AE_FAIL(m_path, ":", line, ":", column, ": a quoted field starts here and is never closed (missing \")");
      m_line += std::count(r, quote, '\n');
      std::memmove(w, r, static_cast<size_t>(quote - r));
      w += quote - r;
      if (quote + 1 < m_end && quote[1] == '"') {  // "" inside quotes is one "
        *w++ = '"';
        r = quote + 2;
        continue;
      }
      r = quote + 1;
      break;
    }
    while (r < m_end && *r == ' ' && m_delim != ' ') ++r;
    if (r < m_end && *r != m_delim && *r != '\n' && *r != '\r')
      AE_FAIL(m_path, ":", line, ":", column, ": text after the closing quote of a quoted field (",
              quote_bytes(std::string_view(
                  r, static_cast<size_t>(
                         std::find_if(r, std::min(m_end, r + 10), [](char c) { return c == '\n' || c == '\r'; }) - r))),
              "); inside quotes write a quote as \"\"");
    m_p = r;
    return {q, static_cast<size_t>(w - q)};
  }

  char* m_p;
  char* m_end;
  char m_delim;
  const std::string& m_path;
  int64_t m_line = 1;
};

// Fields per line for each candidate on the first few lines; the delimiter that splits every one of
// them into the same number (> 1) of fields wins, most fields first; else the most frequent on the
// first line; else ',' (a one-column file). Quotes are honoured within a line.
char detect_delimiter(std::string_view text) {
  constexpr char k_candidates[] = {',', '\t', ';'};
  constexpr int k_lines = 5;
  std::vector<std::vector<int>> counts(3);
  size_t pos = 0;
  for (int l = 0; l < k_lines && pos < text.size(); ++l) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (trim(line).empty() || trim(line) == "\r") continue;
    for (int c = 0; c < 3; ++c) {
      int n = 1;
      bool in_quote = false;
      for (char ch : line) {
        if (ch == '"')
          in_quote = !in_quote;
        else if (ch == k_candidates[c] && !in_quote)
          ++n;
      }
      counts[c].push_back(n);
    }
  }
  int best = -1;
  for (int c = 0; c < 3; ++c) {
    const auto& v = counts[c];
    if (v.empty() || v[0] < 2 || !std::all_of(v.begin(), v.end(), [&](int n) { return n == v[0]; })) continue;
    if (best < 0 || v[0] > counts[best][0]) best = c;
  }
  if (best >= 0) return k_candidates[best];
  for (int c = 0; c < 3; ++c)
    if (!counts[c].empty() && counts[c][0] > 1 && (best < 0 || counts[c][0] > counts[best][0])) best = c;
  return best >= 0 ? k_candidates[best] : ',';
}

enum class Num { ok, empty, not_number, nan, inf, range };

// Parses a float cell: spaces around, a leading '+', from_chars in between, nothing else.
Num parse_float(std::string_view cell, float& out) {
  std::string_view s = trim(cell);
  if (s.empty()) return Num::empty;
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  if (ec == std::errc::result_out_of_range) {
    // Too small for float32 is rounded to (signed) zero or a subnormal; too large is refused.
    double d = 0;
    auto [dptr, dec] = std::from_chars(s.data(), end, d);
    if (dptr != end) return Num::not_number;
    if (dec != std::errc() || std::fabs(d) > std::numeric_limits<float>::max()) return Num::range;
    out = static_cast<float>(d);
    return Num::ok;
  }
  if (ec != std::errc() || ptr != end) return Num::not_number;
  if (std::isnan(out)) return Num::nan;
  if (std::isinf(out)) return Num::inf;
  return Num::ok;
}

bool is_number(std::string_view cell) {
  float v = 0;
  const Num n = parse_float(cell, v);
  return n == Num::ok || n == Num::nan || n == Num::inf || n == Num::range;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Header names (or column indexes) for "not found" messages; long lists are cut.
std::string available(const std::vector<std::string>& names, size_t ncols) {
  if (names.empty())
    return "the file has no header and " + std::to_string(ncols) + " columns (indexes 0.." + std::to_string(ncols - 1) +
           ")";
  std::string s = "the header has " + std::to_string(names.size()) + " columns: ";
  constexpr size_t k_listed = 30;
  for (size_t i = 0; i < names.size() && i < k_listed; ++i) s += (i ? ", " : "") + quote_bytes(names[i]);
  if (names.size() > k_listed) s += ", ...";
  return s + " (or a 0-based index)";
}

// Resolves a column reference (header name first, then a 0-based index) to its index.
size_t resolve(const std::string& path, const std::string& ref, const char* role, const std::vector<std::string>& names,
               size_t ncols) {
  const std::string_view r = trim(ref);
  size_t found = ncols;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != r) continue;
    if (found != ncols)
      AE_FAIL(path, ": ", role, " ", quote_bytes(r), " is ambiguous: the header names columns ", found, " and ", i,
              " so; select it by its 0-based index");
    found = i;
  }
  if (found != ncols) return found;
  if (all_digits(r)) {
    const size_t i = static_cast<size_t>(std::stoul(std::string(r)));
    if (i < ncols) return i;
    AE_FAIL(path, ": ", role, " index ", i, " is out of range: ", available(names, ncols));
  }
  if (names.empty())
    AE_FAIL(path, ": ", role, " ", quote_bytes(r), " is a name, but the file is read without a header line (none ",
            "declared, or its first row is all numbers); give a 0-based index (0..", ncols - 1,
            ") or declare the header");
  AE_FAIL(path, ": ", role, " ", quote_bytes(r), " not found: ", available(names, ncols));
}

// The shape of the table, settled from its first record: width, header, label and kept columns.
struct Layout {
  size_t ncols = 0;
  int64_t first_line = 0;
  bool header = false;
  std::vector<std::string> names;  // [ncols] when header
  size_t label = 0;                // == ncols: no label column
  std::vector<size_t> keep;        // feature columns in output order
};

// Header detection looks at the cells that will be parsed as numbers: a text label column given by
// index is skipped (text labels are not a header), and when only an integer label column given by
// index is read, only that one is looked at (a labels file "label\n0\n1" has a header).
bool detect_header(const std::vector<std::string_view>& first, const CsvOptions& opt, bool int_labels) {
  const std::string_view label_ref = trim(opt.label_column);
  const bool label_is_index = all_digits(label_ref);
  for (size_t c = 0; c < first.size(); ++c) {
    const bool is_label = label_is_index && std::to_string(c) == label_ref;
    if (is_label && !int_labels) continue;
    if (!is_label && label_is_index && opt.labels_only) continue;
    if (!first[c].empty() && !is_number(first[c])) return true;
  }
  return false;
}

Layout make_layout(const std::string& path, const CsvOptions& opt, const std::vector<std::string_view>& first,
                   int64_t line, bool int_labels) {
  Layout l;
  l.ncols = first.size();
  l.first_line = line;
  l.header = opt.header == CsvOptions::Header::yes ||
             (opt.header == CsvOptions::Header::detect && detect_header(first, opt, int_labels));
  if (l.header)
    for (std::string_view f : first) l.names.emplace_back(f);
  l.label =
      trim(opt.label_column).empty() ? l.ncols : resolve(path, opt.label_column, "label column", l.names, l.ncols);
  if (opt.labels_only) return l;
  if (opt.columns.empty()) {
    for (size_t c = 0; c < l.ncols; ++c)
      if (c != l.label) l.keep.push_back(c);
  }
  for (const std::string& ref : opt.columns) {
    const size_t c = resolve(path, ref, "column", l.names, l.ncols);
    if (c == l.label) AE_FAIL(path, ": column ", quote_bytes(ref), " is the label column; it cannot also be a feature");
    if (std::find(l.keep.begin(), l.keep.end(), c) != l.keep.end())
      AE_FAIL(path, ": column ", quote_bytes(ref), " is selected twice");
    l.keep.push_back(c);
  }
  if (l.keep.empty()) AE_FAIL(path, ": no feature columns left (the only column is the label column)");
  return l;
}

// Position of a cell for messages: "path:line:column (column "name"): ".
std::string where(const std::string& path, const Layout& l, int64_t line, size_t c) {
  std::string s = path + ":" + std::to_string(line) + ":" + std::to_string(c + 1);
  if (l.header) s += " (column " + quote_bytes(l.names[c]) + ")";
  return s + ": ";
}

[[noreturn]] void fail_cell(const std::string& at, Num status, std::string_view cell) {
  switch (status) {
    case Num::empty:
      AE_FAIL(at, "empty cell; every feature cell needs a number: clean or impute the data first");
    case Num::nan:
      AE_FAIL(at, "nan is not allowed (", quote_bytes(cell), "): clean or impute the data first");
    case Num::inf:
      AE_FAIL(at, "infinity is not allowed (", quote_bytes(cell), "): clean or clip the data first");
    case Num::range:
      AE_FAIL(at, quote_bytes(cell), " is outside the float32 range (about ±3.4e38)");
    default:
      break;
  }
  static const char* missing[] = {"NA", "N/A", "n/a", "na", "null", "NULL", "None", "?", "-", "NaT"};
  const bool marker = std::find(std::begin(missing), std::end(missing), trim(cell)) != std::end(missing);
  AE_FAIL(at, quote_bytes(trim(cell)), " is not a number",
          marker ? " (a missing-value marker? clean or impute the data first)" : "");
}

int32_t parse_int_label(const std::string& at, std::string_view t) {
  double d = 0;
  const char* b = t.data() + (t.size() > 1 && t[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(b, t.data() + t.size(), d);
  if (ec != std::errc() || ptr != t.data() + t.size() || d != std::floor(d) ||
      std::fabs(d) > std::numeric_limits<int32_t>::max())
    AE_FAIL(at, quote_bytes(t), " is not an integer label (expected 0/1, 1 = anomaly, or a class number)");
  return static_cast<int32_t>(d);
}

// Everything read_csv and read_csv_int_column share. int_labels_out: the label column holds
// integers (parsed into it) instead of text. one_column: the file must have exactly one column.
CsvData read_csv_impl(const std::string& path, const CsvOptions& opt, int64_t max_rows,
                      std::vector<int32_t>* int_labels_out, bool one_column) {
  std::string buf = read_whole_file(path, k_kind);
  const size_t start = buf.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // UTF-8 byte-order mark
  if (std::memchr(buf.data(), '\0', std::min<size_t>(buf.size(), 4096)))
    AE_FAIL(path, ": binary content (NUL bytes in the first 4 KiB); expected ", k_kind);
  const char delim = opt.delimiter ? opt.delimiter : detect_delimiter(std::string_view(buf).substr(start));
  if (delim == '"' || delim == '\n' || delim == '\r')
    AE_FAIL(path, ": delimiter ", quote_bytes(std::string(1, delim)), " cannot separate CSV fields");

  Scanner scan(buf, start, delim, path);
  std::vector<std::string_view> fields;
  int64_t line = 0;
  auto blank = [&] { return fields.size() == 1 && fields[0].empty(); };
  do {  // leading blank lines are skipped like trailing ones; the first record sets the width
    if (!scan.next(fields, line)) AE_FAIL(path, ": no data: the file has only blank lines");
  } while (blank());
  if (one_column && fields.size() != 1)
    AE_FAIL(path, ":", line, ": has ", fields.size(), " fields; a labels file has one value per row (or name the ",
            "column to take the labels from)");
  const Layout l = make_layout(path, opt, fields, line, int_labels_out != nullptr);

  CsvData out;
  Matrix& m = out.features;
  m.cols = static_cast<int64_t>(l.keep.size());
  for (size_t c : l.keep)
    if (l.header) m.column_names.push_back(l.names[c]);
  if (l.header && l.label != l.ncols) out.label_name = l.names[l.label];
  int64_t pending_blank = 0;  // a blank line after the data started: fine if only blank lines follow
  bool use_first = !l.header;
  int64_t rows = 0;
  while (max_rows < 0 || rows < max_rows) {
    if (use_first)
      use_first = false;  // the first record is data: its fields are already scanned
    else if (!scan.next(fields, line))
      break;
    if (blank()) {
      if (!pending_blank) pending_blank = line;
      continue;
    }
    if (pending_blank) AE_FAIL(path, ":", pending_blank, ":1: blank line inside the data (a missing row?); remove it");
    if (fields.size() != l.ncols)
      AE_FAIL(path, ":", line, ":", std::min(fields.size(), l.ncols) + 1, ": has ", fields.size(), " fields, ",
              l.header ? "the header" : "the first row", " (line ", l.first_line, ") has ", l.ncols);
    for (size_t c : l.keep) {
      float v = 0;
      const Num status = parse_float(fields[c], v);
      if (status != Num::ok) fail_cell(where(path, l, line, c), status, fields[c]);
      m.data.push_back(v);
    }
    if (l.label != l.ncols) {
      const std::string_view t = fields[l.label];
      if (t.empty()) AE_FAIL(where(path, l, line, l.label), "empty label");
      if (int_labels_out)
        int_labels_out->push_back(parse_int_label(where(path, l, line, l.label), t));
      else
        out.labels.emplace_back(t);
    }
    ++rows;
  }
  if (rows == 0 && max_rows != 0) AE_FAIL(path, ": has a header (line ", l.first_line, ") but no data rows");
  m.rows = rows;
  return out;
}

// Appends a header name, quoted when it would not read back as the same single field.
void append_name(std::string& s, const std::string& name, char delim) {
  const bool needs = name.empty() || name.find_first_of(std::string{'"', '\n', '\r', delim}) != std::string::npos ||
                     is_space(name.front()) || is_space(name.back());
  if (!needs) {
    s += name;
    return;
  }
  s += '"';
  for (char c : name) {
    if (c == '"') s += '"';
    s += c;
  }
  s += '"';
}

}  // namespace

CsvData read_csv(const std::string& path, const CsvOptions& opt, int64_t max_rows) {
  return read_csv_impl(path, opt, max_rows, nullptr, false);
}

std::vector<int32_t> read_csv_int_column(const std::string& path, const std::string& column, int64_t max_rows) {
  CsvOptions opt;
  opt.labels_only = true;
  opt.label_column = column.empty() ? "0" : column;
  std::vector<int32_t> labels;
  read_csv_impl(path, opt, max_rows, &labels, column.empty());
  return labels;
}

void save_csv(const std::string& path, const float* data, int64_t rows, int64_t cols,
              const std::vector<std::string>& header, char delimiter) {
  if (rows < 0 || cols < 0) AE_FAIL(path, ": cannot write a CSV of shape ", rows, "×", cols);
  if (rows * cols > 0 && data == nullptr) AE_FAIL(path, ": cannot write CSV: no data for ", rows, "×", cols);
  if (!header.empty() && static_cast<int64_t>(header.size()) != cols)
    AE_FAIL(path, ": CSV header has ", header.size(), " names for ", cols, " columns");
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r' || delimiter == '\0' || delimiter == '.' ||
      delimiter == '-' || (delimiter >= '0' && delimiter <= '9'))
    AE_FAIL(path, ": ", quote_bytes(std::string(1, delimiter)), " cannot be a CSV delimiter");
  AtomicFile out(path);
  std::string chunk;
  constexpr size_t k_flush = size_t{1} << 20;
  chunk.reserve(k_flush + 4096);
  if (!header.empty()) {
    for (int64_t c = 0; c < cols; ++c) {
      if (c) chunk += delimiter;
      append_name(chunk, header[static_cast<size_t>(c)], delimiter);
    }
    chunk += '\n';
  }
  char num[32];
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      if (c) chunk += delimiter;
      // Shortest representation that parses back to the same float (std::to_chars guarantee).
      const auto res = std::to_chars(num, num + sizeof(num), row[c]);
      chunk.append(num, res.ptr);
    }
    chunk += '\n';
    if (chunk.size() >= k_flush) {
      out.write(chunk);
      chunk.clear();
    }
  }
  out.write(chunk);
  out.commit();
}

}  // namespace ae
