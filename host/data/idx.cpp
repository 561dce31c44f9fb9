// IDX reader. Layout: bytes 0-1 zero, byte 2 the element type, byte 3 the rank, then rank
// big-endian u32 dimensions, then the elements (big-endian) in row-major order, nothing after.
// The reader pulls the header, then exactly the bytes of the rows asked for in one large read, and
// then accounts for the rest of the file (its size for a plain file; a gzip stream is decompressed
// to its end, which also checks the gzip CRC) so truncation and trailing bytes are always caught.
#include "host/data/idx.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>

#include "kernels/common/error.h"

namespace ae {

namespace {

constexpr int k_max_rank = 16;                       // real files use 1..4; 255 would be absurd
constexpr uint64_t k_max_data_bytes = uint64_t{1} << 46;  // 64 TiB: beyond it, a corrupt header
constexpr size_t k_gz_chunk = size_t{64} << 20;       // decompress 64 MiB per gzread call

std::string hex_byte(uint8_t b) {
  static const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

// The bytes of an IDX file, plain or gzip. Reads never return less than asked except at the end
// of the data; a corrupt or cut-off gzip stream throws instead of looking like a clean end.
class IdxSource {
 public:
  explicit IdxSource(const std::string& path) : m_path(path) {
    m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd < 0) {
      const int err = errno;
      AE_FAIL(path, ": cannot open IDX file: ", std::strerror(err));
    }
    struct stat st {};
    if (::fstat(m_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(m_fd);
      AE_FAIL(path, ": not a regular file; expected an IDX file (optionally gzip-compressed)");
    }
    m_file_bytes = static_cast<uint64_t>(st.st_size);
    if (m_file_bytes == 0) {
      ::close(m_fd);
      AE_FAIL(path, ": empty file (0 bytes); expected an IDX file (optionally gzip-compressed)");
    }
    std::array<uint8_t, 2> magic{};
    if (m_file_bytes >= 2 && ::pread(m_fd, magic.data(), 2, 0) == 2 && magic[0] == 0x1f &&
        magic[1] == 0x8b) {
      m_gz = gzdopen(m_fd, "rb");  // takes ownership of m_fd
      if (!m_gz) {
        ::close(m_fd);
        AE_FAIL(path, ": cannot open gzip stream (out of memory?)");
      }
      m_fd = -1;
      gzbuffer(m_gz, 1u << 20);
    }
  }
  ~IdxSource() {
    if (m_gz) gzclose(m_gz);
    if (m_fd >= 0) ::close(m_fd);
  }
  IdxSource(const IdxSource&) = delete;
  IdxSource& operator=(const IdxSource&) = delete;

  bool gzip() const { return m_gz != nullptr; }
  uint64_t file_bytes() const { return m_file_bytes; }
  uint64_t position() const { return m_position; }

  // Reads up to n bytes into dst; fewer only at the end of the data.
  size_t read(void* dst, size_t n) {  // dst: [n]
    auto* out = static_cast<uint8_t*>(dst);
    size_t done = 0;
    while (done < n) {
      const size_t want = std::min(n - done, k_gz_chunk);
      const long got = m_gz ? gz_read(out + done, want) : plain_read(out + done, want);
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    m_position += done;
    return done;
  }

  // Bytes left after the current position (a gzip stream is decompressed and discarded).
  uint64_t count_rest() {
    if (!m_gz) return m_file_bytes - std::min(m_file_bytes, m_position);
    std::vector<uint8_t> scratch(size_t{1} << 20);
    uint64_t rest = 0;
    while (true) {
      const long got = gz_read(scratch.data(), scratch.size());
      if (got == 0) break;
      rest += static_cast<uint64_t>(got);
    }
    return rest;
  }

 private:
  long plain_read(uint8_t* dst, size_t n) {
    while (true) {
      const ssize_t got = ::read(m_fd, dst, n);
      if (got >= 0) return static_cast<long>(got);
      if (errno == EINTR) continue;
      const int err = errno;
      AE_FAIL(m_path, ": read error: ", std::strerror(err));
    }
  }
  long gz_read(uint8_t* dst, size_t n) {
    const int got = gzread(m_gz, dst, static_cast<unsigned>(n));
    int errnum = Z_OK;
    const char* raw_msg = gzerror(m_gz, &errnum);
    // zlib prefixes its messages with the stream's name, "<fd:N>" for gzdopen; ours names the file.
    std::string_view msg = raw_msg ? raw_msg : "";
    if (msg.starts_with("<fd:") && msg.find(": ") != std::string_view::npos)
      msg.remove_prefix(msg.find(": ") + 2);
    // zlib reports a cut-off stream as Z_BUF_ERROR while still returning the bytes it had.
    if (errnum == Z_BUF_ERROR)
      AE_FAIL(m_path, ": corrupt gzip stream: it ends early (", msg,
              "); the .gz file is truncated, re-download or re-compress it");
    if (got < 0 || errnum != Z_OK)
      AE_FAIL(m_path, ": corrupt gzip stream: ", (errnum == Z_ERRNO ? std::strerror(errno) : msg));
    return got;
  }

  const std::string& m_path;
  int m_fd = -1;
  gzFile m_gz = nullptr;
  uint64_t m_file_bytes = 0;
  uint64_t m_position = 0;
};

struct IdxHeader {
  uint8_t type = 0;
  size_t elem_bytes = 0;
  std::vector<uint64_t> dims;
  uint64_t header_bytes = 0;  // 4 + 4 * rank
  uint64_t row_elems = 1;     // product of dims[1..]
  uint64_t data_bytes = 0;    // dims product * elem_bytes
};

const char* type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return nullptr;
  }
}

size_t type_bytes(uint8_t type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "×" : "") + std::to_string(dims[i]);
  return s;
}

std::string promise_text(const IdxHeader& h) {
  std::string s = "header promises " + dims_text(h.dims);
  if (h.elem_bytes > 1) s += " × " + std::to_string(h.elem_bytes) + "-byte " + type_name(h.type);
  return s + " = " + std::to_string(h.data_bytes) + " bytes of data";
}

IdxHeader read_header(IdxSource& src, const std::string& path) {
  const char* where = src.gzip() ? " (after gzip decompression)" : "";
  std::array<uint8_t, 4> magic{};
  const size_t got = src.read(magic.data(), 4);
  if (got < 4)
    AE_FAIL(path, ": truncated header: ", got, " bytes", where,
            "; an IDX file starts with 4 magic bytes and its dimensions");
  if (magic[0] != 0 || magic[1] != 0)
    AE_FAIL(path, ": not an IDX file: magic bytes ", hex_byte(magic[0]), " ", hex_byte(magic[1]),
            where, " (expected 0x00 0x00)");
  IdxHeader h;
  h.type = magic[2];
  h.elem_bytes = type_bytes(h.type);
  if (h.elem_bytes == 0)
    AE_FAIL(path, ": unknown IDX data type byte ", hex_byte(h.type),
            " (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 or 0x0E f64)");
  const int rank = magic[3];
  if (rank == 0) AE_FAIL(path, ": IDX rank is 0 (4th magic byte); a file has at least one dimension");
  if (rank > k_max_rank)
    AE_FAIL(path, ": IDX rank ", rank, " (4th magic byte) is absurd; at most ", k_max_rank,
            " dimensions are accepted, is the file corrupt?");
  std::vector<uint8_t> raw(static_cast<size_t>(rank) * 4);
  const size_t got_dims = src.read(raw.data(), raw.size());
  if (got_dims < raw.size())
    AE_FAIL(path, ": truncated header: rank ", rank, " needs ", raw.size(),
            " bytes of dimensions, the file has ", got_dims, where);
  h.header_bytes = 4 + raw.size();
  uint64_t elems = 1;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* p = raw.data() + 4 * i;
    h.dims.push_back((uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3]);
  }
  for (int i = 0; i < rank; ++i) {
    if (h.dims[i] == 0)
      AE_FAIL(path, ": dimension ", i, " is 0 (header says ", dims_text(h.dims),
              "); an IDX file with no elements is not usable data");
    if (__builtin_mul_overflow(elems, h.dims[i], &elems) || elems > k_max_data_bytes)
      AE_FAIL(path, ": size overflow: header dimensions ", dims_text(h.dims),
              " describe more data than any real file holds; the header is corrupt");
    if (i > 0) h.row_elems *= h.dims[i];
  }
  if (__builtin_mul_overflow(elems, uint64_t{h.elem_bytes}, &h.data_bytes) ||
      h.data_bytes > k_max_data_bytes)
    AE_FAIL(path, ": size overflow: header dimensions ", dims_text(h.dims), " of ",
            type_name(h.type), " describe more data than any real file holds; the header is corrupt");
  return h;
}

// Reads the header and the raw (big-endian) bytes of the first `rows` rows, then checks that the
// data is exactly as long as the header promises. Returns the header; *rows is clamped to dim0.
IdxHeader read_idx_raw(const std::string& path, int64_t max_rows, std::vector<uint8_t>& raw,
                       uint64_t& rows) {
  IdxSource src(path);
  IdxHeader h = read_header(src, path);
  rows = max_rows < 0 ? h.dims[0] : std::min<uint64_t>(h.dims[0], static_cast<uint64_t>(max_rows));
  const uint64_t want = rows * h.row_elems * h.elem_bytes;
  if (!src.gzip()) {
    // The file size is known: refuse wrong sizes before allocating anything.
    const uint64_t have = src.file_bytes() - h.header_bytes;
    if (have < h.data_bytes)
      AE_FAIL(path, ": truncated: ", promise_text(h), ", file has ", have, " after the ",
              h.header_bytes, "-byte header");
    if (have > h.data_bytes)
      AE_FAIL(path, ": ", have - h.data_bytes, " trailing bytes after the data: ", promise_text(h),
              ", file has ", have, " after the ", h.header_bytes,
              "-byte header (wrong dimensions in the header?)");
    raw.resize(want);
    const size_t got = src.read(raw.data(), want);
    AE_CHECK(got == want, path, ": read ", got, " bytes, expected ", want, " (file changed while reading?)");
    return h;
  }
  // Gzip: the decompressed size is unknown up front, so grow the buffer as data arrives rather
  // than trusting a possibly corrupt header with a huge allocation.
  raw.clear();
  raw.reserve(std::min<uint64_t>(want, k_gz_chunk));
  uint64_t got = 0;
  while (got < want) {
    const size_t step = static_cast<size_t>(std::min<uint64_t>(want - got, k_gz_chunk));
    raw.resize(got + step);
    const size_t n = src.read(raw.data() + got, step);
    got += n;
    if (n < step) break;
  }
  raw.resize(got);
  const uint64_t total = got + src.count_rest();
  if (total < h.data_bytes)
    AE_FAIL(path, ": truncated: ", promise_text(h), ", decompressed file has ", total,
            " after the ", h.header_bytes, "-byte header");
  if (total > h.data_bytes)
    AE_FAIL(path, ": ", total - h.data_bytes, " trailing bytes after the data: ", promise_text(h),
            ", decompressed file has ", total, " after the ", h.header_bytes,
            "-byte header (wrong dimensions in the header?)");
  return h;
}

template <typename T>
T load_be(const uint8_t* p) {
  static_assert(sizeof(T) <= 8);
  uint64_t u = 0;
  for (size_t i = 0; i < sizeof(T); ++i) u = (u << 8) | p[i];
  T v;
  if constexpr (sizeof(T) == 1) {
    const auto b = static_cast<uint8_t>(u);
    std::memcpy(&v, &b, 1);
  } else if constexpr (sizeof(T) == 2) {
    const auto b = static_cast<uint16_t>(u);
    std::memcpy(&v, &b, 2);
  } else if constexpr (sizeof(T) == 4) {
    const auto b = static_cast<uint32_t>(u);
    std::memcpy(&v, &b, 4);
  } else {
    std::memcpy(&v, &u, 8);
  }
  return v;
}

template <typename T, typename OUT>
void convert(const uint8_t* src, size_t n, OUT* dst) {  // src: [n * sizeof(T)] big-endian, dst: [n]
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<OUT>(load_be<T>(src + i * sizeof(T)));
}

}  // namespace

Matrix read_idx_matrix(const std::string& path, int64_t max_rows) {
  std::vector<uint8_t> raw;
  uint64_t rows = 0;
  const IdxHeader h = read_idx_raw(path, max_rows, raw, rows);
  Matrix m;
  m.rows = static_cast<int64_t>(rows);
  m.cols = static_cast<int64_t>(h.row_elems);
  // Image files keep their shape: [n, H, W] (MNIST) is one channel, [n, C, H, W] is as written.
  if (h.dims.size() == 3) m.image_shape = {1, int64_t(h.dims[1]), int64_t(h.dims[2])};
  if (h.dims.size() == 4) m.image_shape = {int64_t(h.dims[1]), int64_t(h.dims[2]), int64_t(h.dims[3])};
  const size_t n = static_cast<size_t>(rows * h.row_elems);
  m.data.resize(n);
  float* out = m.data.data();
  switch (h.type) {
    case 0x08: {
      // A table keeps v / 255 exactly as the division would round it, at table-lookup speed.
      std::array<float, 256> scale{};
      for (int v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;
      for (size_t i = 0; i < n; ++i) out[i] = scale[raw[i]];
      break;
    }
    case 0x09: convert<int8_t>(raw.data(), n, out); break;
    case 0x0B: convert<int16_t>(raw.data(), n, out); break;
    case 0x0C: convert<int32_t>(raw.data(), n, out); break;
    case 0x0D: convert<float>(raw.data(), n, out); break;
    case 0x0E: convert<double>(raw.data(), n, out); break;
  }
  return m;
}

std::vector<int32_t> read_idx_labels(const std::string& path, int64_t max_rows) {
  std::vector<uint8_t> raw;
  uint64_t rows = 0;
  const IdxHeader h = read_idx_raw(path, max_rows, raw, rows);
  if (h.dims.size() != 1)
    AE_FAIL(path, ": labels must be a rank-1 IDX file, this one has rank ", h.dims.size(), " (",
            dims_text(h.dims), "); is it an images file?");
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  switch (h.type) {
    case 0x08: convert<uint8_t>(raw.data(), labels.size(), labels.data()); break;
    case 0x09: convert<int8_t>(raw.data(), labels.size(), labels.data()); break;
    case 0x0B: convert<int16_t>(raw.data(), labels.size(), labels.data()); break;
    case 0x0C: convert<int32_t>(raw.data(), labels.size(), labels.data()); break;
    default:
      AE_FAIL(path, ": labels must be an integer IDX type (u8, i8, i16 or i32), this file holds ",
              type_name(h.type));
  }
  return labels;
}

}  // namespace ae
