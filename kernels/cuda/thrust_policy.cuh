// The one place that chooses where ae's Thrust calls run. Include it before any Thrust header, and
// only from a kernels/cuda .cu (nvcc compiles those; under the sim they go through
// ae_add_sim_cuda_sources), never from a launcher header that plain C++ includes.
//   nvcc:      Thrust's CUDA system, enqueued on the caller's stream without a final synchronize
//              (thrust::cuda::par_nosync.on(stream)); results that come back to the host (count_if)
//              synchronize as they must.
//   cuda-sim:  the same calls compile against Thrust's host CPP system, on the sim's device pointers
//              (sim device memory is host memory). The host system runs at once, while the sim's
//              streams are deferred: thrust_policy(stream) first runs the work queued on the stream,
//              so Thrust reads what the kernels before it wrote, and work enqueued after it runs later,
//              in stream order, as on a GPU.
// memcheck: the sim checks kernel accesses only while a block runs; Thrust's host loops are not
// checked element by element. check_device_range() is the substitute: under the sim every range
// handed to Thrust must lie inside one device allocation (and one named buffer of it, when named).
#pragma once

#if defined(AE_CUDA_SIM)
#if defined(THRUST_DEVICE_SYSTEM) && THRUST_DEVICE_SYSTEM != THRUST_DEVICE_SYSTEM_CPP
#error "under runtime/sim ae's Thrust calls use the CPP device system"
#endif
#ifndef THRUST_DEVICE_SYSTEM
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_CPP
#endif
#include <thrust/system/cpp/execution_policy.h>
#else
#include <thrust/system/cuda/execution_policy.h>
#endif

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/common/error.h"
#include "kernels/cuda/launch.cuh"

namespace ae::cuda {

// The execution policy of a Thrust call ordered on `stream` (see the file comment).
inline auto thrust_policy(cudaStream_t stream) {
#if defined(AE_CUDA_SIM)
  AE_CUDA_CHECK(cudaStreamSynchronize(stream));
  return thrust::cpp::par;
#else
  return thrust::cuda::par_nosync.on(stream);
#endif
}

// memcheck of a range a Thrust call reads or writes (see the file comment); nothing on a GPU.
inline void check_device_range(const void* p, size_t bytes, const char* what) {
#if defined(AE_CUDA_SIM)
  AE_CHECK(::ae::sim::in_device_memory(p, bytes), "memcheck: ", what, " [", p, ", +", bytes,
           " bytes) handed to Thrust is not inside one device allocation (or named buffer)");
#else
  (void)p, (void)bytes, (void)what;
#endif
}

}  // namespace ae::cuda
