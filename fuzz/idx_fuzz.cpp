// libFuzzer target: IDX files (plain or gzip) through read_idx_matrix, with and without a row
// limit, and read_idx_labels.
#include "fuzz/fuzz_input.h"
#include "host/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ae::fuzz::ScratchFile file(".idx");
  const std::string& path = file.write(data, size);
  ae::fuzz::expect_ok_or_error([&] { ae::read_idx_matrix(path); });
  ae::fuzz::expect_ok_or_error([&] { ae::read_idx_matrix(path, 1); });
  ae::fuzz::expect_ok_or_error([&] { ae::read_idx_labels(path); });
  return 0;
}
