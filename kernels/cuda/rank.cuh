// Launchers of ranking on the GPU, through Thrust (kernels/cuda/thrust_policy.cuh says where it
// runs): the order of values from the largest down with NaN first and ties by lower index, and the
// count above a threshold — the device half of runtime/latent.h's rank_descending / top_k /
// count_above, whose host code is the reference. Pointers are device memory; work is ordered on
// `stream`. Throws ae::Error on bad arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ae::cuda {

// order[0, n) = 0..n−1 sorted so that values[order[i]] ranks before values[order[i+1]]: NaN before
// every number, then descending, ties by lower index (a stable sort of the indices). keys is
// scratch the sort permutes (a copy of values; values itself is left as it is). n ≥ 0.
void rank_descending(const float* values,  // [n]
                     int64_t n,
                     float* keys,     // [n] scratch
                     int64_t* order,  // [n] out
                     cudaStream_t stream);

// How many values are > threshold or NaN (a NaN score is flagged). Returns once it is counted.
int64_t count_above(const float* values,  // [n]
                    int64_t n, float threshold, cudaStream_t stream);

}  // namespace ae::cuda
