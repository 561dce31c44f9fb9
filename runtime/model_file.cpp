// safetensors reader and writer for ae model files (F32, BF16 and F16 tensors + string metadata).
// Loading reads the 8-byte length and the JSON header, validates every entry and the tiling of the
// data buffer before allocating tensor storage, then reads each tensor's bytes in file order.
#include "runtime/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "graph/json_text.h"
#include "kernels/common/error.h"
#include "kernels/cpu/lowp_round.h"
#include "runtime/atomic_file.h"

// safetensors stores the header length and all tensor data little-endian; ae copies both straight
// between memory and disk, which is only right on a little-endian host (x86-64, aarch64 Linux).
static_assert(std::endian::native == std::endian::little,
              "ae's model file code assumes a little-endian host (safetensors is little-endian)");

namespace ae {

namespace {

using json = nlohmann::json;

constexpr uint64_t k_max_header_bytes = 100'000'000;  // the limit the reference implementation uses
constexpr uint64_t k_max_tensor_bytes = uint64_t{1} << 46;
constexpr const char* k_metadata_key = "__metadata__";
// ae's headers nest 3 deep. nlohmann's dump() (in messages) recurses per level, so a header of
// "[[[[..." overflowed the stack (SIGSEGV): deeper headers are refused while parsing.
constexpr int k_max_json_depth = 64;

// The dtypes safetensors defines: a file holding one of these is valid, just not something ae reads.
bool is_safetensors_dtype(const std::string& d) {
  static const std::set<std::string> known = {"BOOL", "U8",  "I8",  "I16",     "U16",    "F16",
                                              "BF16", "I32", "U32", "F32",     "F64",    "I64",
                                              "U64",  "F8_E4M3",   "F8_E5M2", "F8_E8M0", "F4",
                                              "F6_E2M3", "F6_E3M2"};
  return known.count(d) > 0;
}

// The safetensors names of the dtypes ae stores; little-endian, 4 and 2 bytes per element.
const char* file_dtype_name(DType d) { return d == DType::f32 ? "F32" : d == DType::bf16 ? "BF16" : "F16"; }

bool parse_file_dtype(const std::string& s, DType& d) {
  if (s == "F32") d = DType::f32;
  else if (s == "BF16") d = DType::bf16;
  else if (s == "F16") d = DType::f16;
  else return false;
  return true;
}

// Element count of a shape; false on a negative dimension or more bytes than any file holds.
bool shape_elems(const std::vector<int64_t>& shape, uint64_t& elems) {
  elems = 1;
  for (const int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(elems, static_cast<uint64_t>(d), &elems)) return false;
    if (elems > k_max_tensor_bytes / sizeof(float)) return false;
  }
  return true;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Reads exactly n bytes at offset; throws naming the file on a short read.
void pread_exact(int fd, void* dst, size_t n, uint64_t offset, const std::string& path) {  // dst: [n]
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      AE_FAIL(path, ": read error: ", std::strerror(err));
    }
    if (got == 0) AE_FAIL(path, ": file ended while reading (was it changed while being read?)");
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

class Fd {
 public:
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() {
    if (m_fd >= 0) ::close(m_fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return m_fd; }

 private:
  int m_fd;
};

// A non-negative JSON integer, or a message saying what the field holds instead.
uint64_t json_uint(const json& v, const std::string& path, const std::string& field) {
  if (!v.is_number_integer())
    AE_FAIL(path, ": ", field, " is ", json_shown(v), ", expected a non-negative integer");
  if (!v.is_number_unsigned()) AE_FAIL(path, ": ", field, " is ", json_shown(v), ", which is negative");
  return v.get<uint64_t>();
}

struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::f32;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const json& v, const std::string& path) {
  const std::string where = "tensor " + quote_bytes(name, 64, '\'');
  if (!v.is_object())
    AE_FAIL(path, ": ", where, " is ", v.type_name(),
            " in the header, expected an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) AE_FAIL(path, ": ", where, " has no '", field, "' field in the header");
  const json& dtype = v["dtype"];
  if (!dtype.is_string()) AE_FAIL(path, ": ", where, ": dtype is ", json_shown(dtype), ", expected a string");
  const std::string d = dtype.get<std::string>();
  Entry e;
  if (!parse_file_dtype(d, e.dtype)) {
    if (is_safetensors_dtype(d))
      AE_FAIL(path, ": ", where, " has dtype ", d,
              "; ae reads F32, BF16 and F16 tensors (convert the tensor to float32 before loading)");
    AE_FAIL(path, ": ", where, " has unknown dtype ", quote_bytes(d, 40, '\''), "; ae reads F32, BF16 and F16 tensors");
  }
  e.name = name;
  const json& shape = v["shape"];
  if (!shape.is_array()) AE_FAIL(path, ": ", where, ": shape is ", json_shown(shape), ", expected an array");
  for (size_t i = 0; i < shape.size(); ++i) {
    const uint64_t dim = json_uint(shape[i], path, where + ": shape[" + std::to_string(i) + "]");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      AE_FAIL(path, ": ", where, ": shape[", i, "] = ", dim, " overflows");
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  uint64_t elems = 0;
  if (!shape_elems(e.shape, elems))
    AE_FAIL(path, ": ", where, ": shape ", json_shown(shape), " overflows (more data than any file holds)");
  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    AE_FAIL(path, ": ", where, ": data_offsets is ", json_shown(offsets), ", expected [begin, end]");
  e.begin = json_uint(offsets[0], path, where + ": data_offsets[0]");
  e.end = json_uint(offsets[1], path, where + ": data_offsets[1]");
  if (e.end < e.begin)
    AE_FAIL(path, ": ", where, ": data_offsets [", e.begin, ", ", e.end, "] ends before it begins");
  const uint64_t bytes = elems * uint64_t(dtype_bytes(e.dtype));
  if (e.end - e.begin != bytes)
    AE_FAIL(path, ": ", where, ": data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin,
            " bytes, but shape ", shape_text(e.shape), " of ", d, " needs ", bytes, " (", dtype_bytes(e.dtype),
            " per element)");
  return e;
}

// header: the JSON text, which starts at byte 8 of the file (messages give file offsets).
json parse_header(const std::string& header, const std::string& path) {
  // The DOM parser keeps the last of two equal keys silently; a parse callback sees every top-level
  // key, so a name given twice is reported instead of losing one tensor.
  std::set<std::string> seen;
  std::string duplicate;
  const json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    using Event = json::parse_event_t;
    if (depth >= k_max_json_depth && (event == Event::object_start || event == Event::array_start))
      AE_FAIL(path, ": safetensors header: invalid JSON: nested deeper than ", k_max_json_depth, " levels");
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string() &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  if (const std::string nul = json_nul_failure(header, 8); !nul.empty())
    AE_FAIL(path, ": safetensors header: ", nul);
  json root;
  try {
    root = json::parse(header, on_event);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number beyond a double
    AE_FAIL(path, ": safetensors header: ", json_parse_failure(e, header, 8));
  }
  if (!duplicate.empty()) AE_FAIL(path, ": header names ", quote_bytes(duplicate, 64, '\''), " twice");
  if (!root.is_object())
    AE_FAIL(path, ": header is a JSON ", root.type_name(), ", expected an object of tensors");
  return root;
}

// The 16-bit patterns of a BF16 or F16 tensor, rounded to nearest even. A finite value that fp16
// cannot hold would silently become inf: refused, naming the tensor and the value.
std::vector<uint16_t> encode_16(const NamedTensor& t, const std::string& path) {  // [elems]
  std::vector<uint16_t> bits(t.data.size());
  for (size_t i = 0; i < t.data.size(); ++i) {
    const float v = t.data[i];
    if (t.dtype == DType::bf16) {
      bits[i] = cpu::bf16_bits(v);
      continue;
    }
    bits[i] = cpu::fp16_bits(v);
    if ((bits[i] & 0x7fffu) == 0x7c00u && std::isfinite(v))
      AE_FAIL(path, ": cannot save tensor '", t.name, "' as F16: element ", i, " is ", v,
              ", beyond fp16's range (largest finite 65504; it would become inf); save it as bf16, which has fp32's range");
  }
  return bits;
}

// Reads a tensor's bytes at `offset` as fp32 values, widening BF16 and F16 exactly.
void read_tensor_data(int fd, const Entry& e, uint64_t offset, std::vector<float>& out, const std::string& path) {
  const uint64_t bytes = e.end - e.begin;
  if (e.dtype == DType::f32) {
    out.resize(bytes / sizeof(float));
    pread_exact(fd, out.data(), bytes, offset, path);
    return;
  }
  std::vector<uint16_t> bits(bytes / sizeof(uint16_t));  // little-endian (see static_assert)
  pread_exact(fd, bits.data(), bytes, offset, path);
  out.resize(bits.size());
  for (size_t i = 0; i < bits.size(); ++i)
    out[i] = e.dtype == DType::bf16 ? cpu::bf16_value(bits[i]) : cpu::fp16_value(bits[i]);
}

}  // namespace

const NamedTensor* ModelFile::find(std::string_view name) const {
  for (const NamedTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void save_model_file(const std::string& path, const ModelFile& file) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header[k_metadata_key] = file.metadata;
  std::set<std::string_view> names;
  std::vector<std::vector<uint16_t>> encoded(file.tensors.size());  // BF16/F16 tensors' bits, before any write
  uint64_t offset = 0;
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const NamedTensor& t = file.tensors[i];
    if (t.name == k_metadata_key)
      AE_FAIL(path, ": cannot save a tensor named '", k_metadata_key, "' (reserved by safetensors)");
    if (!names.insert(t.name).second) AE_FAIL(path, ": cannot save two tensors named '", t.name, "'");
    uint64_t elems = 0;
    if (!shape_elems(t.shape, elems))
      AE_FAIL(path, ": cannot save tensor '", t.name, "': shape ", shape_text(t.shape),
              " has a negative dimension or overflows");
    if (elems != t.data.size())
      AE_FAIL(path, ": cannot save tensor '", t.name, "': shape ", shape_text(t.shape), " holds ",
              elems, " elements but data has ", t.data.size());
    if (t.dtype != DType::f32) encoded[i] = encode_16(t, path);
    const uint64_t bytes = elems * uint64_t(dtype_bytes(t.dtype));
    header[t.name] = {{"dtype", file_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();  // compact, like the reference writer; strict UTF-8
  } catch (const nlohmann::ordered_json::type_error& e) {
    AE_FAIL(path, ": cannot save: a tensor name or metadata string is not valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // so the data buffer starts 8-byte aligned
  const uint64_t n = text.size();

  AtomicFile out(path, sizeof(n) + n + offset);  // offset: the data bytes
  out.write(&n, sizeof(n));  // little-endian (see static_assert)
  out.write(text);
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const NamedTensor& t = file.tensors[i];
    if (t.dtype == DType::f32) out.write(t.data.data(), t.data.size() * sizeof(float));
    else out.write(encoded[i].data(), encoded[i].size() * sizeof(uint16_t));
  }
  out.commit();
}

ModelFile load_model_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    AE_FAIL(path, ": cannot open model file: ", std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    AE_FAIL(path, ": not a regular file; expected a safetensors model file");
  const auto file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes == 0) AE_FAIL(path, ": empty file (0 bytes); expected a safetensors model file");
  if (file_bytes < 8)
    AE_FAIL(path, ": truncated: ", file_bytes,
            " bytes, a safetensors file starts with an 8-byte header length");

  uint64_t n = 0;
  pread_exact(fd.get(), &n, 8, 0, path);
  if (n > k_max_header_bytes)
    AE_FAIL(path, ": header length ", n, " is absurd (over ", k_max_header_bytes,
            " bytes); not a safetensors file, or a corrupt one");
  if (8 + n > file_bytes)
    AE_FAIL(path, ": header length ", n, " is larger than the file (", file_bytes,
            " bytes); the file is truncated or not a safetensors file");
  if (n < 2) AE_FAIL(path, ": header length ", n, " is too small to hold a JSON object");
  std::string text(n, '\0');
  pread_exact(fd.get(), text.data(), n, 8, path);
  const json root = parse_header(text, path);

  ModelFile file;
  std::vector<Entry> entries;
  for (const auto& [key, value] : root.items()) {
    if (key == k_metadata_key) {
      if (!value.is_object())
        AE_FAIL(path, ": __metadata__ is ", value.type_name(), ", expected an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          AE_FAIL(path, ": __metadata__[", quote_bytes(mk, 64, '\''), "] is ", mv.type_name(), " (", json_shown(mv),
                  "), but safetensors metadata values must be strings");
        file.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, path));
  }

  // The tensors must tile the data buffer exactly: sorted by offset, each starts where the
  // previous one ended, and the last ends at the end of the file.
  const uint64_t buffer_bytes = file_bytes - 8 - n;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.end > buffer_bytes)
      AE_FAIL(path, ": tensor ", quote_bytes(e.name, 64, '\''), ": data_offsets [", e.begin, ", ", e.end,
              "] run past the data buffer (", buffer_bytes, " bytes); the file is truncated");
    if (e.begin < pos)
      AE_FAIL(path, ": tensor ", quote_bytes(e.name, 64, '\''), ": data_offsets [", e.begin, ", ", e.end,
              "] overlap tensor ", quote_bytes(prev->name, 64, '\''), " (which ends at ", pos, ")");
    if (e.begin > pos)
      AE_FAIL(path, ": bytes [", pos, ", ", e.begin, ") of the data buffer are not covered by any "
              "tensor (gap before tensor ", quote_bytes(e.name, 64, '\''), ")");
    pos = e.end;
    prev = &e;
  }
  if (pos < buffer_bytes)
    AE_FAIL(path, ": ", buffer_bytes - pos, " trailing bytes after the last tensor are not covered "
            "by any tensor (data buffer is ", buffer_bytes, " bytes, tensors cover ", pos, ")");

  const uint64_t data_start = 8 + n;
  file.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    NamedTensor t;
    t.name = e.name;
    t.shape = e.shape;
    t.dtype = e.dtype;
    read_tensor_data(fd.get(), e, data_start + e.begin, t.data, path);
    file.tensors.push_back(std::move(t));
  }
  return file;
}

}  // namespace ae
