// NPY v1.0 writer: "\x93NUMPY", version 1.0, a little-endian u16 header length, then a Python dict
// literal padded with spaces and ended by '\n' so the data starts on a 64-byte boundary (what numpy
// itself writes), then the raw little-endian float32 data.
#include "host/data/npy.h"

#include <bit>

#include "kernels/common/error.h"
#include "runtime/atomic_file.h"

static_assert(std::endian::native == std::endian::little,
              "ae's NPY writer copies float32 data as is, which is '<f4' only on a little-endian host");

namespace ae {

void save_npy(const std::string& path, const float* data, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) AE_FAIL(path, ": cannot write an NPY array of shape (", rows, ", ", cols, ")");
  uint64_t elems = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), &elems) ||
      elems > (uint64_t{1} << 60))
    AE_FAIL(path, ": cannot write an NPY array of shape (", rows, ", ", cols, "): size overflows");
  if (elems > 0 && data == nullptr) AE_FAIL(path, ": cannot write NPY: no data for ", rows, "×", cols);

  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) +
                       ", " + std::to_string(cols) + "), }";
  const size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  header.append(63 - (prefix + header.size()) % 64, ' ');
  header += '\n';
  const auto n = static_cast<uint16_t>(header.size());  // < 128 here, far below the v1.0 limit

  AtomicFile out(path);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint8_t len[2] = {static_cast<uint8_t>(n & 0xFF), static_cast<uint8_t>(n >> 8)};
  out.write(len, 2);
  out.write(header);
  out.write(data, elems * sizeof(float));
  out.commit();
}

}  // namespace ae
