// Launchers of the small memory-bound kernels a Plan needs around the fused ops: fill, copy, add
// and the gather of a shuffled minibatch. Pointers are device memory; n, rows and features are
// element counts. Each throws ae::Error on bad arguments or a failed launch (naming the kernel).
// Zero-sized calls launch nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/amp.h"
#include "kernels/common/step_scalars.h"

namespace ae::cuda {

template <typename T>
void fill(T* y,  // [n]
          T value, int64_t n, cudaStream_t stream);

// y = ramp_weight(weight, steps->step, ramp) (kernels/common/elementwise.h), read on the device: the
// seed of a warmed-up objective term, right under CUDA-graph replay as the step changes. With amp
// (fp16 loss scaling, kernels/common/amp.h) the seed is T(ramp_weight) · amp->scale, also read on the
// device, so every gradient flowing back from the term is scaled as torch's scaler.scale(loss) makes
// it; the scale is a power of two, so the product is exact unless it overflows (then amp_unscale
// sees the inf and the step is skipped). amp comes last, defaulted: callers without scaling are unchanged.
template <typename T>
void fill_ramped(T* y,  // [n]
                 double weight, int64_t ramp,
                 const StepScalars* steps,  // [1] device
                 int64_t n, cudaStream_t stream,
                 const AmpState* amp = nullptr);  // [1] device, or nullptr: no loss scaling

// A kernel rather than cudaMemcpyAsync so it is an ordinary kernel node in a captured graph.
// x and y must not overlap.
template <typename T>
void copy(const T* x,  // [n]
          T* y,        // [n]
          int64_t n, cudaStream_t stream);

// y = a + b; y may alias a or b.
template <typename T>
void add(const T* a,  // [n]
         const T* b,  // [n]
         T* y,        // [n]
         int64_t n, cudaStream_t stream);

// out[i, :] = src[index[i], :] for i < M: the rows of a shuffled minibatch. Every index must lie
// in [0, src_rows); an index outside it traps the kernel (a failed launch, never a wild read).
template <typename T>
void gather_rows(const T* src,  // [src_rows, F]
                 int64_t src_rows,
                 const int64_t* index,  // [M]
                 int64_t M, int64_t F,
                 T* out,  // [M, F]
                 cudaStream_t stream);

}  // namespace ae::cuda
