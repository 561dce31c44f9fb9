// The prelude of every .cu file compiled for runtime/sim (see ae_add_sim_cuda_sources): it pulls in
// CUDA's own host headers (types, error codes, __half, __nv_bfloat16), then takes over the CUDA
// keywords that crt/host_defines.h defines as no-ops for host compilers, so the kernel source compiles
// unchanged as C++ and runs through the sim's execution model.
#pragma once
#define AE_SIM_CUDA_SIM_H 1
#ifndef AE_CUDA_SIM
#define AE_CUDA_SIM 1
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "runtime/sim/device.h"
#include "runtime/sim/sim.h"
#include "runtime/sim/wmma.h"

// Kernels and device functions become plain C++ functions.
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __constant__
#define __constant__
#undef __managed__
#define __managed__
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __grid_constant__
#define __grid_constant__
// Static shared memory: one instance per worker thread, and a worker runs one block at a time, so
// every CUDA thread of a block (all fibers of that worker) sees the same array, and blocks running
// in parallel see different ones. `extern __shared__` does not compile: use ae::cuda::dynamic_shared.
#undef __shared__
#define __shared__ static thread_local
