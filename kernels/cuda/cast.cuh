// Launcher of the cast Plan op on CUDA: y = x converted between ae's element types (f32, bf16,
// f16; kernels/common/dtype.h), as kernels/cpu/cast.h does on the cpu. Pointers are device memory.
// Throws ae::Error on bad arguments or a failed launch; n = 0 launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/dtype.h"

namespace ae::cuda {

// y[i] = x[i] converted, for all nine (from, to) pairs: a narrowing rounds to nearest even, bit for
// bit as kernels/cpu/lowp_round.h's bf16_bits/fp16_bits (fp16 overflow gives ±inf, subnormals are
// kept; a NaN stays NaN, with CUDA's canonical payload); a widening is exact; bf16 ↔ f16 widens to
// fp32 (exact) and rounds once; from == to copies the bits. x and y must not overlap, except as the
// same pointer with from == to (nothing to do).
void cast(const void* x,  // [n] elements of `from`
          DType from,
          void* y,  // [n] elements of `to`
          DType to, int64_t n, cudaStream_t stream);

}  // namespace ae::cuda
