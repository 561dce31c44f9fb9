// Launcher of the hold kernel: one thread that keeps a stream busy until the host releases it.
// `ae bench --device cuda` launches it before the first event of a timing, so that everything the
// timing enqueues is queued on the GPU before any of it starts: the events then measure GPU
// execution, not the host's launch overhead (nvbench's "blocking kernel"). Pointers are pinned
// host memory, which the device reads and writes directly (unified addressing). Throws ae::Error
// on a failed launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ae::cuda {

// Spins until *release becomes nonzero; after max_polls reads without it, sets *timed_out = 1 and
// returns (a host that never releases must not hang the GPU; the caller checks timed_out).
void hold_stream(const volatile int* release,  // [1] pinned host memory
                 int* timed_out,               // [1] pinned host memory
                 int64_t max_polls, cudaStream_t stream);

}  // namespace ae::cuda
