// The one launch helper and the one dynamic-shared-memory helper of every ae CUDA kernel: the only
// two places where a kernel source differs between nvcc (<<<>>> and `extern __shared__`) and the
// host compiler building it against runtime/sim (the sim's execution model). Nothing else in a kernel
// source may know which of the two it is compiled for.
//
//   AE_LAUNCH(my_kernel, grid, block, smem_bytes, stream, args...);          // checked launch
//   ae::cuda::launch("gemm<float,64>", gemm<float, 64>, grid, block, smem, stream, args...);
//   float* tile = ae::cuda::dynamic_shared<float>();                         // in the kernel
#pragma once

#include <cuda_runtime.h>

#include <sstream>
#include <utility>

#include "kernels/common/error.h"

#if defined(AE_CUDA_SIM) && !defined(AE_SIM_CUDA_SIM_H)
#error "compile ae kernels for the sim through ae_add_sim_cuda_sources (it includes runtime/sim/cuda_sim.h first)"
#endif

// AE_CUDA_CHECK(call): throws ae::Error naming the call and the CUDA error when it does not succeed.
#ifndef AE_CUDA_CHECK
#define AE_CUDA_CHECK(call)                                                                         \
  do {                                                                                              \
    cudaError_t ae_cuda_check_e = (call);                                                           \
    if (ae_cuda_check_e != cudaSuccess)                                                             \
      ::ae::detail::fail(__FILE__, __LINE__, #call,                                                 \
                         ::ae::detail::concat(cudaGetErrorName(ae_cuda_check_e), ": ",              \
                                              cudaGetErrorString(ae_cuda_check_e)));                \
  } while (0)
#endif

// The helpers exist where kernels are compiled (nvcc or the sim); plain C++ gets AE_CUDA_CHECK only.
#if defined(__CUDACC__) || defined(AE_CUDA_SIM)
namespace ae::cuda {

// Launches `kernel` and checks the launch (configuration, shared memory; under the sim also the
// kernel's run when it runs at once: on the legacy stream, or with AE_SIM_STREAMS=eager; on a
// deferred stream, as on a GPU, a failing run is reported by the call that synchronizes): throws
// ae::Error naming the kernel, its configuration and the CUDA error.
// Arguments are converted to the kernel's parameter types here, as <<<>>> does.
template <typename... PARAMS, typename... ARGS>
void launch(const char* name, void (*kernel)(PARAMS...), dim3 grid, dim3 block, size_t smem_bytes,
            cudaStream_t stream, ARGS&&... args) {
  static_assert(sizeof...(PARAMS) == sizeof...(ARGS), "kernel launched with the wrong number of arguments");
#if defined(AE_CUDA_SIM)
  ::ae::sim::launch(name, kernel, grid, block, smem_bytes, stream, std::forward<ARGS>(args)...);
#else
  kernel<<<grid, block, smem_bytes, stream>>>(static_cast<PARAMS>(std::forward<ARGS>(args))...);
#endif
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    std::ostringstream os;
    os << "launch of kernel '" << name << "' <<<(" << grid.x << "," << grid.y << "," << grid.z << "), (" << block.x
       << "," << block.y << "," << block.z << "), " << smem_bytes << ">>> failed: " << cudaGetErrorName(e) << " ("
       << cudaGetErrorString(e) << ")";
#if defined(AE_CUDA_SIM)
    if (e == cudaErrorLaunchFailure) os << "; " << ::ae::sim::last_failure();
#endif
    throw ::ae::Error(os.str());
  }
}

// The block's dynamic shared memory (the smem_bytes of the launch), 16-byte aligned.
template <typename T>
__device__ __forceinline__ T* dynamic_shared() {
#if defined(AE_CUDA_SIM)
  return reinterpret_cast<T*>(::ae::sim::detail::t_builtins.dynamic_smem);
#else
  extern __shared__ __align__(16) unsigned char ae_dynamic_shared_bytes[];
  return reinterpret_cast<T*>(ae_dynamic_shared_bytes);
#endif
}

}  // namespace ae::cuda

// Launches a kernel named by its identifier, which becomes the name in error messages.
#define AE_LAUNCH(kernel, grid, block, smem_bytes, stream, ...) \
  ::ae::cuda::launch(#kernel, kernel, grid, block, smem_bytes, stream __VA_OPT__(, ) __VA_ARGS__)
#endif  // __CUDACC__ || AE_CUDA_SIM
