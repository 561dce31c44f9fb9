// How the cuda backend tests need a device: this build's device backend ("cuda-sim", always there,
// or "cuda" with -DAE_ENABLE_CUDA=ON, which needs a GPU) and, when it cannot run here, the
// registry's own one-line reason, for a test to report SKIPPED (never passed).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "kernels/common/error.h"
#include "runtime/backend.h"

namespace ae {

const char* cuda_backend_name();  // runtime/cuda/cuda_backend.cpp
bool cuda_backend_available();

namespace test {

// "" when this build's cuda backend can run here, else why not.
inline std::string cuda_device_missing() {
  if (cuda_backend_available()) return "";
  try {
    make_backend(cuda_backend_name());
  } catch (const Error& e) {
    return e.what();
  }
  return "cuda_backend_available() is false";
}

}  // namespace test
}  // namespace ae

// In a test body or SetUp(): report SKIPPED with the reason when there is no device.
#define AE_SKIP_WITHOUT_CUDA_DEVICE()                                                     \
  do {                                                                                    \
    const std::string ae_no_device_why = ::ae::test::cuda_device_missing();               \
    if (!ae_no_device_why.empty()) GTEST_SKIP() << "no CUDA device: " << ae_no_device_why; \
  } while (0)
