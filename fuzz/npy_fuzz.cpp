// libFuzzer target: NPY files through read_npy, whole and with a row limit.
#include "fuzz/fuzz_input.h"
#include "host/data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ae::fuzz::ScratchFile file(".npy");
  const std::string& path = file.write(data, size);
  ae::fuzz::expect_ok_or_error([&] { ae::read_npy(path); });
  ae::fuzz::expect_ok_or_error([&] { ae::read_npy(path, 1); });
  return 0;
}
