// libFuzzer target: .aec codes files (`ae compress`'s output, read by `ae decompress`). The reader
// checks magic, version, quantisation and sizes against the file length before it trusts a count,
// then a checksum; no input may make it allocate past the file or read out of bounds. A mutated
// file almost never keeps its checksum, so each input is also read with its last 8 bytes replaced
// by the right one (FNV-1a 64 of the rest), which lets the fuzzer reach the fields behind it.
#include <cstring>
#include <string>

#include "fuzz/fuzz_input.h"
#include "host/latent/codes_file.h"

// A file the reader accepts holds exactly what its header says: rows × units codes, and a scale and
// an offset per unit when quantised. Anything else is a bug even without a crash.
static void read_and_check(const std::string& path) {
  const ae::latent::CodesFile f = ae::latent::read_codes_file(path);
  const size_t units = f.quant_bits ? size_t(f.units) : 0;
  if (f.codes.size() != size_t(f.rows) * size_t(f.units) || f.scale.size() != units || f.offset.size() != units) __builtin_trap();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ae::fuzz::ScratchFile file(".aec");
  ae::fuzz::expect_ok_or_error([&] { read_and_check(file.write(data, size)); });
  if (size >= 8) {
    std::string fixed(reinterpret_cast<const char*>(data), size);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size - 8; ++i) h = (h ^ uint8_t(fixed[i])) * 1099511628211ull;
    std::memcpy(fixed.data() + size - 8, &h, 8);
    ae::fuzz::expect_ok_or_error(
        [&] { read_and_check(file.write(reinterpret_cast<const uint8_t*>(fixed.data()), size)); });
  }
  return 0;
}
