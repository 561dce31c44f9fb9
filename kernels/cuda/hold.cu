// The hold kernel (hold.cuh): one thread polling a host flag in pinned memory. The flag is read
// through a volatile pointer so every poll goes to memory; each poll of host memory costs about a
// PCIe round trip (~1 µs), so max_polls bounds the hold in time. One variant.
#include "kernels/common/error.h"
#include "kernels/cuda/hold.cuh"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

namespace {

__global__ void hold_kernel(const volatile int* release,  // [1]
                            int* timed_out,               // [1]
                            int64_t max_polls) {
  for (int64_t i = 0; i < max_polls; ++i)
    if (*release != 0) return;
  *timed_out = 1;
}

}  // namespace

void hold_stream(const volatile int* release, int* timed_out, int64_t max_polls, cudaStream_t stream) {
  AE_CHECK(release != nullptr && timed_out != nullptr, "cuda hold_stream: release or timed_out is null");
  AE_CHECK(max_polls >= 1, "cuda hold_stream: max_polls must be ≥ 1 (got ", max_polls, ")");
  launch("hold", hold_kernel, dim3(1), dim3(1), 0, stream, release, timed_out, max_polls);
}

}  // namespace ae::cuda
