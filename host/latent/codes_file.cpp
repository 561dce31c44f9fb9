// .aec codes files: writing (atomic), reading with every field checked, per-unit quantisation.
#include "host/latent/codes_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/model.h"

namespace ae::latent {

namespace {

constexpr char MAGIC[8] = {'A', 'E', 'C', 'O', 'D', 'E', 'S', '\0'};
constexpr uint32_t MAX_SPEC_BYTES = 1 << 16;

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
};

// Little-endian appends to a byte buffer (ae runs on little-endian hosts; the layout is fixed).
template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

struct Reader {
  const std::string& bytes;
  const std::string& path;
  size_t at = 0;
  template <typename T>
  T get(const char* field) {
    if (bytes.size() - at < sizeof(T))
      AE_FAIL(path, ": truncated .aec file: ends at byte ", bytes.size(), " inside the ", field, " field");
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
};

}  // namespace

uint64_t model_fingerprint(const Model& m) {
  Fnv f;
  const std::string spec = m.spec.to_compact(), norm = m.norm.to_json().dump();
  f.add(spec.data(), spec.size());
  f.add(norm.data(), norm.size());
  for (size_t i = 0; i < m.params.count(); ++i) f.add(m.params.value(i), size_t(m.params.info(i).size()) * sizeof(float));
  return f.h;
}

void quantize(CodesFile& f, int bits, std::vector<uint16_t>& q) {
  AE_CHECK(bits == 8 || bits == 16, "quantisation to ", bits, " bits; expected 8 or 16");
  const int64_t units = f.units, rows = f.rows;
  const double levels = double((1u << bits) - 1);
  f.quant_bits = bits;
  f.scale.assign(size_t(units), 0.f);
  f.offset.assign(size_t(units), 0.f);
  for (int64_t u = 0; u < units; ++u) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t r = 0; r < rows; ++r) lo = std::min(lo, f.codes[size_t(r * units + u)]), hi = std::max(hi, f.codes[size_t(r * units + u)]);
    if (rows == 0) lo = hi = 0;
    f.offset[size_t(u)] = lo;
    f.scale[size_t(u)] = hi > lo ? float((double(hi) - double(lo)) / levels) : 0.f;
  }
  q.resize(f.codes.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t u = 0; u < units; ++u) {
      const size_t i = size_t(r * units + u);
      const float s = f.scale[size_t(u)], o = f.offset[size_t(u)];
      const double level = s > 0 ? std::nearbyint((double(f.codes[i]) - double(o)) / double(s)) : 0.0;
      q[i] = uint16_t(std::clamp(level, 0.0, levels));
      f.codes[i] = o + float(q[i]) * s;  // what decompress will compute, to the bit
    }
}

uint64_t write_codes_file(const std::string& path, CodesFile& f) {
  AE_CHECK(f.quant_bits == 0 || f.quant_bits == 8 || f.quant_bits == 16, "quantisation bits ", f.quant_bits);
  AE_CHECK(int64_t(f.codes.size()) == f.rows * f.units, "codes of ", f.codes.size(), " values for ", f.rows, " × ", f.units);
  std::vector<uint16_t> q;
  if (f.quant_bits) quantize(f, f.quant_bits, q);
  std::string out(MAGIC, sizeof MAGIC);
  put(out, CODES_FILE_VERSION);
  put(out, uint32_t(f.quant_bits));
  put(out, uint64_t(f.rows));
  put(out, uint64_t(f.units));
  put(out, f.fingerprint);
  put(out, uint32_t(f.spec.size()));
  out += f.spec;
  if (f.quant_bits) {
    out.append(reinterpret_cast<const char*>(f.scale.data()), f.scale.size() * sizeof(float));
    out.append(reinterpret_cast<const char*>(f.offset.data()), f.offset.size() * sizeof(float));
  }
  if (f.quant_bits == 0) out.append(reinterpret_cast<const char*>(f.codes.data()), f.codes.size() * sizeof(float));
  else if (f.quant_bits == 8)
    for (uint16_t v : q) out += char(uint8_t(v));
  else
    for (uint16_t v : q) put(out, v);
  Fnv sum;
  sum.add(out.data(), out.size());
  put(out, sum.h);
  AtomicFile file(path, out.size());
  file.write(out);
  file.commit();
  return out.size();
}

CodesFile read_codes_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) AE_FAIL(path, ": cannot open: ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) AE_FAIL(path, ": read error");
  if (bytes.size() < sizeof MAGIC || std::memcmp(bytes.data(), MAGIC, sizeof MAGIC) != 0)
    AE_FAIL(path, ": not an .aec codes file (no AECODES magic at byte 0); `ae compress` writes them");
  Reader r{bytes, path, sizeof MAGIC};
  const uint32_t version = r.get<uint32_t>("version");
  if (version != CODES_FILE_VERSION)
    AE_FAIL(path, ": .aec version ", version, " is not one this ae reads (", CODES_FILE_VERSION, ")");
  CodesFile f;
  const uint32_t qbits = r.get<uint32_t>("quantisation bits");
  if (qbits != 0 && qbits != 8 && qbits != 16) AE_FAIL(path, ": quantisation bits ", qbits, " at byte 12; expected 0, 8 or 16");
  f.quant_bits = int(qbits);
  const uint64_t rows = r.get<uint64_t>("rows"), units = r.get<uint64_t>("units");
  f.fingerprint = r.get<uint64_t>("model fingerprint");
  const uint32_t spec_len = r.get<uint32_t>("spec length");
  if (units == 0 || units > (1u << 24) || rows > (uint64_t(1) << 40) || spec_len > MAX_SPEC_BYTES)
    AE_FAIL(path, ": corrupt .aec header: ", rows, " rows × ", units, " units, spec of ", spec_len, " bytes");
  // The size the header implies, before anything is allocated from it. rows·units·elem can pass
  // 2^64 within the limits above (2^40 · 2^24 · 4): the body is bounded by the file first, so the
  // product is formed only when it fits in what was read.
  const uint64_t elem = qbits == 0 ? 4 : qbits / 8;
  if (rows > 0 && units * elem > uint64_t(bytes.size()) / rows)
    AE_FAIL(path, ": truncated .aec file: ", bytes.size(), " bytes cannot hold its header's ", rows, " rows × ", units, " units");
  const uint64_t want = r.at + spec_len + (qbits ? 8 * units : 0) + rows * units * elem + 8;
  if (bytes.size() != want)
    AE_FAIL(path, ": ", bytes.size() < want ? "truncated" : "corrupt", " .aec file: ", bytes.size(), " bytes, but its header (", rows,
            " rows × ", units, " units, ", qbits ? std::to_string(qbits) + "-bit" : std::string("float32"), ") needs ", want);
  Fnv sum;
  sum.add(bytes.data(), bytes.size() - 8);
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (stored != sum.h) AE_FAIL(path, ": corrupt .aec file: the checksum does not match its contents");
  f.rows = int64_t(rows), f.units = int64_t(units);
  f.spec = bytes.substr(r.at, spec_len);
  r.at += spec_len;
  // The spec goes into messages (a file from another model names it): no control characters, so
  // an error stays one line.
  for (unsigned char c : f.spec)
    if (c < 0x20 || c == 0x7f) AE_FAIL(path, ": corrupt .aec file: a control character in the model's spec");
  auto read_floats = [&](std::vector<float>& v, size_t n) {
    v.resize(n);
    if (n > 0) std::memcpy(v.data(), bytes.data() + r.at, n * sizeof(float));  // a 0-row file: v.data() may be null
    r.at += n * sizeof(float);
    for (float x : v)
      if (!std::isfinite(x)) AE_FAIL(path, ": corrupt .aec file: a non-finite value");
  };
  if (qbits) {
    read_floats(f.scale, units);
    read_floats(f.offset, units);
    for (float s : f.scale)
      if (s < 0) AE_FAIL(path, ": corrupt .aec file: a negative quantisation scale");
  }
  const size_t n = size_t(rows * units);
  if (qbits == 0) {
    read_floats(f.codes, n);
  } else {
    f.codes.resize(n);
    for (size_t i = 0; i < n; ++i) {
      uint16_t q = 0;
      if (qbits == 8) q = uint8_t(bytes[r.at + i]);
      else std::memcpy(&q, bytes.data() + r.at + 2 * i, 2);
      const size_t u = i % size_t(units);
      f.codes[i] = f.offset[u] + float(q) * f.scale[u];
    }
  }
  return f;
}

}  // namespace ae::latent
