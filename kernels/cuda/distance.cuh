// Launchers of the exact k-nearest search's device steps (runtime/latent.h's RowIndex on a device
// backend; runtime/latent.cpp's host loop is the reference): row norms or normalisation, and one
// block step that turns a tile of dot products into distances and merges them into each query's
// running best k. The dot products themselves come from ae::cuda::matmul (kernels/cuda/matmul.cuh).
// Distances: euclidean ‖q‖² + ‖t‖² − 2·q·t clamped at 0; cosine 1 − q·t on normalised rows.
// Order: (distance, index) ascending, NaN distances after every number. Pointers are device memory;
// work is ordered on `stream`. Throws ae::Error on bad arguments or a failed launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ae::cuda {

// Per row of x: its squared norm Σ x² (accumulated in double in column order, as the host reference
// does, so the norms are bit-equal) into norms when given; with normalise, the row is scaled in place
// to unit length (by float(1/√Σx²); a zero row stays zero). n, d ≥ 0.
void row_norms(float* x,      // [n, d]
               int64_t n, int64_t d, bool normalise,
               float* norms,  // [n] or nullptr
               cudaStream_t stream);

// Scratch of nearest_block: candidates of up to `capacity` = rows·(k + tile columns) entries.
struct NearestScratch {
  uint64_t* key = nullptr;   // [capacity] (query, distance) sort keys
  int64_t* index = nullptr;  // [capacity]
  int64_t capacity = 0;
};

// One step of the search over a [mq, nt] tile of dot products dots[i, j] = q_i · t_{t0+j}: each
// query's candidates are its running best k (best_*, or none when !carry) and the tile's nt
// distances; they are sorted by (query, distance, index) with Thrust (a stable radix sort) and the
// first k of each query become the new best. Needs scratch.capacity ≥ mq·(k + nt). Before the first step (carry false)
// the running best is empty: placeholders (NaN, INT64_MAX) sort after every real candidate, so with
// k ≤ the rows seen over all steps, none is left at the end.
void nearest_block(bool cosine,
                   const float* dots,     // [mq, nt]
                   const float* q_norms,  // [mq] squared norms (euclidean; unused for cosine)
                   const float* t_norms,  // [nt] squared norms of rows t0.. (euclidean)
                   int64_t mq, int64_t nt, int64_t t0, int k, bool carry,
                   float* best_distance,  // [mq, k] in/out
                   int64_t* best_index,   // [mq, k] in/out
                   const NearestScratch& scratch, cudaStream_t stream);

}  // namespace ae::cuda
