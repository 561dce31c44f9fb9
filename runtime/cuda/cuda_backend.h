// What the rest of runtime/cuda may know of the cuda backend beyond the Backend interface: its
// compute stream, on which every op of a Plan (or its CUDA graph) is enqueued in order. The GPU
// timings of `ae bench --device cuda` record their cudaEvents there (runtime/cuda/bench_cuda.cpp).
#pragma once

#include <cuda_runtime.h>

#include "runtime/backend.h"

namespace ae {

// Throws ae::Error when `backend` is not this build's cuda (or cuda-sim) backend.
cudaStream_t cuda_compute_stream(Backend& backend);

}  // namespace ae
