// NPY reader and writer. Layout: "\x93NUMPY", major and minor version bytes, the header length
// (u16 little-endian in v1.0, u32 in v2.0/3.0), a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and '\n' so the
// data starts on a 64-byte boundary, then the raw elements. The writer emits v1.0 float32; the
// reader parses the dict with a small literal parser (keys in any order, either quote style) and
// converts any numeric dtype to float32 in one pass over the bytes of the rows asked for.
#include "host/data/npy.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "host/data/file_read.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"

static_assert(std::endian::native == std::endian::little,
              "ae's NPY writer copies float32 data as is, which is '<f4' only on a little-endian host");

namespace ae {

namespace {

constexpr const char* k_kind = "an NPY file (numpy.save)";
constexpr size_t k_max_header = size_t{1} << 20;  // numpy's own headers are < 1 KiB; beyond 1 MiB, corrupt
constexpr const char* k_supported =
    "bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float32, float64";

struct NpyHeader {
  std::string descr;
  bool descr_is_list = false;  // structured dtype
  bool fortran_order = false;
  bool has_descr = false, has_order = false, has_shape = false;
  std::vector<uint64_t> shape;
};

// Parses the header dict: a Python literal with string keys and string / bool / int-tuple values.
class HeaderParser {
 public:
  // text: the header dict; base: its offset in the file (messages give file offsets).
  HeaderParser(std::string_view text, size_t base, const std::string& path) : m_s(text), m_base(base), m_path(path) {}

  NpyHeader parse() {
    NpyHeader h;
    ws();
    expect('{');
    while (true) {
      ws();
      if (peek() == '}') break;
      const std::string key = string_literal();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        h.has_descr = true;
        if (peek() == '[') {
          h.descr_is_list = true;
          skip_value();
        } else {
          h.descr = string_literal();
        }
      } else if (key == "fortran_order") {
        h.has_order = true;
        h.fortran_order = boolean();
      } else if (key == "shape") {
        h.has_shape = true;
        h.shape = int_tuple();
      } else {
        skip_value();  // numpy writes no other keys; an extra one is ignored
      }
      ws();
      if (peek() == ',') {
        ++m_i;
        continue;
      }
      ws();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    if (!h.has_descr || !h.has_order || !h.has_shape)
      AE_FAIL(m_path, ": NPY header lacks the '",
              (!h.has_descr   ? "descr"
               : !h.has_order ? "fortran_order"
                              : "shape"),
              "' key; the header at ", quote_at(trimmed(), 0, m_base, 64));
    return h;
  }

 private:
  char peek() const { return m_i < m_s.size() ? m_s[m_i] : '\0'; }
  void ws() {
    while (m_i < m_s.size() && (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r')) ++m_i;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++m_i;
  }
  std::string_view trimmed() const {  // without the padding, for showing the whole header
    std::string_view s = m_s;
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
    return s;
  }
  [[noreturn]] void fail(const std::string& what) const {
    AE_FAIL(m_path, ": cannot parse the NPY header (", what, ") at ", quote_at(m_s, m_i, m_base));
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = m_s.find(q, m_i + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string v(m_s.substr(m_i + 1, end - m_i - 1));
    m_i = end + 1;
    return v;
  }
  bool boolean() {
    if (m_s.substr(m_i, 4) == "True") {
      m_i += 4;
      return true;
    }
    if (m_s.substr(m_i, 5) == "False") {
      m_i += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<uint64_t> int_tuple() {
    expect('(');
    std::vector<uint64_t> v;
    while (true) {
      ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer dimension");
      uint64_t d = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(d, uint64_t{10}, &d) || __builtin_add_overflow(d, uint64_t(peek() - '0'), &d))
          fail("dimension overflows");
        ++m_i;
      }
      if (peek() == 'L') ++m_i;  // Python 2 long suffix, written by old numpy
      v.push_back(d);
      ws();
      if (peek() == ',')
        ++m_i;
      else if (peek() != ')')
        fail("expected ',' or ')' in the shape");
    }
    ++m_i;
    return v;
  }
  void skip_value() {  // a balanced bracket expression or a bare token; strings may hold brackets
    int depth = 0;
    while (m_i < m_s.size()) {
      const char c = m_s[m_i];
      if (c == '\'' || c == '"') {
        string_literal();
        continue;
      }
      if (c == '(' || c == '[' || c == '{')
        ++depth;
      else if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) return;
        --depth;
      } else if (c == ',' && depth == 0)
        return;
      ++m_i;
    }
    fail("unterminated value");
  }

  std::string_view m_s;
  size_t m_base;
  const std::string& m_path;
  size_t m_i = 0;
};

enum class Kind { boolean, sint, uint, flt };

struct Dtype {
  Kind kind;
  size_t bytes;
  bool swap;         // stored big-endian (this host is little-endian)
  std::string name;  // numpy's name, for messages
};

std::string numpy_name(char kind, size_t bytes) {
  switch (kind) {
    case 'b':
      return "bool";
    case 'i':
      return "int" + std::to_string(bytes * 8);
    case 'u':
      return "uint" + std::to_string(bytes * 8);
    case 'f':
      return "float" + std::to_string(bytes * 8);
    case 'c':
      return "complex" + std::to_string(bytes * 8);
    case 'O':
      return "object";
    case 'U':
      return "str (unicode)";
    case 'S':
      return "bytes";
    case 'V':
      return "void (raw or structured)";
    case 'M':
      return "datetime64";
    case 'm':
      return "timedelta64";
    default:
      return "unknown";
  }
}

Dtype parse_dtype(const std::string& path, const NpyHeader& h) {
  if (h.descr_is_list)
    AE_FAIL(path, ": structured arrays (a record dtype with named fields) are not supported; save a plain ",
            "numeric array (one of ", k_supported, "), e.g. np.save(path, a.astype(np.float32))");
  const std::string& d = h.descr;
  size_t i = 0;
  char order = '|';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) order = d[i++];
  if (i >= d.size()) AE_FAIL(path, ": NPY dtype ", quote_bytes(d), " is malformed; supported: ", k_supported);
  const char kind = d[i++];
  size_t bytes = 0;
  for (; i < d.size() && d[i] >= '0' && d[i] <= '9' && bytes < 1000; ++i) bytes = bytes * 10 + size_t(d[i] - '0');
  if (kind == 'O')
    AE_FAIL(path, ": object arrays (dtype object, pickled Python objects) are not supported; save a numeric ",
            "array (one of ", k_supported, "), e.g. np.save(path, a.astype(np.float32))");
  const bool whole = i == d.size();
  const bool ok = whole && ((kind == 'b' && bytes == 1) ||
                            ((kind == 'i' || kind == 'u') && (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8)) ||
                            (kind == 'f' && (bytes == 2 || bytes == 4 || bytes == 8)));
  if (!ok)
    AE_FAIL(path, ": unsupported NPY dtype ", quote_bytes(d), " (", numpy_name(kind, bytes), "); supported: ", k_supported);
  const Kind k = kind == 'b' ? Kind::boolean : kind == 'i' ? Kind::sint : kind == 'u' ? Kind::uint : Kind::flt;
  return {k, bytes, order == '>' && bytes > 1, numpy_name(kind, bytes)};
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t man = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);  // rebias 15 -> 127
  } else {
    // Zero or subnormal: man · 2^-24, exact in float32.
    const float v = std::ldexp(static_cast<float>(man), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(bits);
}

template <typename T>
T load(const uint8_t* p, bool swap) {  // p: [sizeof(T)]
  uint8_t b[sizeof(T)];
  if (swap) {
    for (size_t i = 0; i < sizeof(T); ++i) b[i] = p[sizeof(T) - 1 - i];
  } else {
    std::memcpy(b, p, sizeof(T));
  }
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

template <typename T>
void convert_int(const uint8_t* src, size_t n, bool swap, float* dst) {  // src: [n * sizeof(T)], dst: [n]
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<T>(src + i * sizeof(T), swap));
}

// Float data: converted, then every element checked, since NaN / Inf / out-of-range values would
// silently poison training. Messages use numpy's 0-based indexes (a[row, column]).
void convert_float(const std::string& path, const uint8_t* src, size_t n, const Dtype& t, int64_t cols,
                   float* dst) {  // src: [n * t.bytes], dst: [n]
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = src + i * t.bytes;
    double v;
    if (t.bytes == 2)
      v = half_to_float(load<uint16_t>(p, t.swap));
    else if (t.bytes == 4)
      v = load<float>(p, t.swap);
    else
      v = load<double>(p, t.swap);
    if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max()) {
      const int64_t r = cols ? static_cast<int64_t>(i) / cols : 0, c = cols ? static_cast<int64_t>(i) % cols : 0;
      const char* what = std::isnan(v) ? "is NaN" : std::isinf(v) ? "is infinite" : "does not fit float32";
      AE_FAIL(path, ": row ", r, ", column ", c, " (0-based) ", what, std::isfinite(v) ? " (" : "",
              std::isfinite(v) ? std::to_string(v) + ")" : "", ": clean or impute the data first");
    }
    dst[i] = static_cast<float>(v);
  }
}

}  // namespace

Matrix read_npy(const std::string& path, int64_t max_rows) {
  const uint64_t file_bytes = input_file_size(path, k_kind);
  const std::string head = read_file_prefix(path, k_max_header + 12, k_kind);
  if (head.size() < 10 || head.compare(0, 6, "\x93NUMPY") != 0)
    AE_FAIL(path, ": not an NPY file: it does not start with the magic bytes \\x93NUMPY");
  const auto major = static_cast<uint8_t>(head[6]), minor = static_cast<uint8_t>(head[7]);
  if (major < 1 || major > 3 || minor != 0)
    AE_FAIL(path, ": NPY format version ", int(major), ".", int(minor), " is not supported (1.0, 2.0 and 3.0 are)");
  const auto u8 = [&](size_t i) { return uint64_t(static_cast<uint8_t>(head[i])); };
  const size_t prefix = major == 1 ? 10 : 12;
  if (head.size() < prefix) AE_FAIL(path, ": truncated NPY header (", head.size(), " bytes)");
  const uint64_t header_len = major == 1 ? (u8(8) | u8(9) << 8) : (u8(8) | u8(9) << 8 | u8(10) << 16 | u8(11) << 24);
  if (header_len > k_max_header)
    AE_FAIL(path, ": NPY header length ", header_len, " is implausible (numpy writes < 1 KiB); corrupt file?");
  if (prefix + header_len > head.size())
    AE_FAIL(path, ": truncated NPY header: it says ", header_len, " bytes, the file has ", head.size() - prefix);
  const NpyHeader h = HeaderParser(std::string_view(head).substr(prefix, header_len), prefix, path).parse();
  const Dtype t = parse_dtype(path, h);

  if (h.shape.empty())
    AE_FAIL(path,
            ": 0-d array (a single scalar, shape ()); ae expects samples in rows: shape (n,), (n, m) or (n, ...)");
  uint64_t row_elems = 1, elems = h.shape[0], data_bytes = 0;
  int big_dims = h.shape[0] > 1;
  for (size_t i = 1; i < h.shape.size(); ++i) {
    big_dims += h.shape[i] > 1;
    if (__builtin_mul_overflow(row_elems, h.shape[i], &row_elems) || __builtin_mul_overflow(elems, h.shape[i], &elems))
      AE_FAIL(path, ": NPY shape ", shape_text(h.shape), " overflows; the header is corrupt");
  }
  if (__builtin_mul_overflow(elems, uint64_t{t.bytes}, &data_bytes) || data_bytes > (uint64_t{1} << 46))
    AE_FAIL(path, ": NPY shape ", shape_text(h.shape),
            " describes more data than any real file holds; corrupt header?");
  if (h.fortran_order && big_dims > 1)  // one non-trivial dimension: Fortran and C order are the same bytes
    AE_FAIL(path, ": Fortran-ordered arrays are not supported; save with np.ascontiguousarray (shape ",
            shape_text(h.shape), ")");
  const uint64_t data_start = prefix + header_len;
  const uint64_t have = file_bytes - std::min(file_bytes, data_start);
  const std::string promise =
      "shape " + shape_text(h.shape) + " of " + t.name + " needs " + std::to_string(data_bytes) + " bytes of data";
  if (have < data_bytes) AE_FAIL(path, ": truncated NPY data: ", promise, ", the file has ", have);
  if (have > data_bytes)
    AE_FAIL(path, ": ", have - data_bytes, " trailing bytes after the NPY data: ", promise, ", the file has ", have);

  Matrix m;
  const uint64_t rows = max_rows < 0 ? h.shape[0] : std::min<uint64_t>(h.shape[0], uint64_t(max_rows));
  m.rows = static_cast<int64_t>(rows);
  m.cols = static_cast<int64_t>(row_elems);
  // Image stacks keep their shape: (n, H, W) is one channel, (n, C, H, W) channels first (NCHW, as
  // PyTorch stores them; a channels-last (n, H, W, C) stack reads as HxWxC, which a convolutional
  // model's check then refuses with the transpose that fixes it).
  if (h.shape.size() == 3 && row_elems > 0) m.image_shape = {1, int64_t(h.shape[1]), int64_t(h.shape[2])};
  if (h.shape.size() == 4 && row_elems > 0) m.image_shape = {int64_t(h.shape[1]), int64_t(h.shape[2]), int64_t(h.shape[3])};
  const size_t n = static_cast<size_t>(rows * row_elems);
  m.data.resize(n);
  if (t.kind == Kind::flt && t.bytes == 4 && !t.swap) {
    // The common case: the bytes are already our floats; read in place, then check.
    read_file_at(path, data_start, m.data.data(), n * 4);
    convert_float(path, reinterpret_cast<const uint8_t*>(m.data.data()), n, t, m.cols, m.data.data());
    return m;
  }
  std::vector<uint8_t> raw(n * t.bytes);
  read_file_at(path, data_start, raw.data(), raw.size());
  const uint8_t* src = raw.data();
  float* dst = m.data.data();
  switch (t.kind) {
    case Kind::boolean:
      for (size_t i = 0; i < n; ++i) dst[i] = src[i] ? 1.0f : 0.0f;
      break;
    case Kind::sint:
      if (t.bytes == 1)
        convert_int<int8_t>(src, n, t.swap, dst);
      else if (t.bytes == 2)
        convert_int<int16_t>(src, n, t.swap, dst);
      else if (t.bytes == 4)
        convert_int<int32_t>(src, n, t.swap, dst);
      else
        convert_int<int64_t>(src, n, t.swap, dst);
      break;
    case Kind::uint:
      if (t.bytes == 1)
        convert_int<uint8_t>(src, n, t.swap, dst);
      else if (t.bytes == 2)
        convert_int<uint16_t>(src, n, t.swap, dst);
      else if (t.bytes == 4)
        convert_int<uint32_t>(src, n, t.swap, dst);
      else
        convert_int<uint64_t>(src, n, t.swap, dst);
      break;
    case Kind::flt:
      convert_float(path, src, n, t, m.cols, dst);
      break;
  }
  return m;
}

namespace {

// An NPY v1.0 file of a C-order (rows, cols) array of `descr` elements of `elem_bytes` each.
void save_npy_raw(const std::string& path, const void* data, int64_t rows, int64_t cols, const char* descr, size_t elem_bytes) {
  if (rows < 0 || cols < 0) AE_FAIL(path, ": cannot write an NPY array of shape (", rows, ", ", cols, ")");
  uint64_t elems = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), &elems) ||
      elems > (uint64_t{1} << 60))
    AE_FAIL(path, ": cannot write an NPY array of shape (", rows, ", ", cols, "): size overflows");
  if (elems > 0 && data == nullptr) AE_FAIL(path, ": cannot write NPY: no data for ", rows, "×", cols);

  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  const size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  header.append(63 - (prefix + header.size()) % 64, ' ');
  header += '\n';
  const auto n = static_cast<uint16_t>(header.size());  // < 128 here, far below the v1.0 limit

  AtomicFile out(path, prefix + header.size() + elems * elem_bytes);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint8_t len[2] = {static_cast<uint8_t>(n & 0xFF), static_cast<uint8_t>(n >> 8)};
  out.write(len, 2);
  out.write(header);
  out.write(data, elems * elem_bytes);
  out.commit();
}

}  // namespace

void save_npy(const std::string& path, const float* data, int64_t rows, int64_t cols) {
  save_npy_raw(path, data, rows, cols, "<f4", sizeof(float));
}

void save_npy_u8(const std::string& path, const uint8_t* data, int64_t rows, int64_t cols) {
  save_npy_raw(path, data, rows, cols, "|u1", 1);
}

}  // namespace ae
