// Conversions between ae's element types (kernels/common/dtype.h): fp32 → bf16 rounds to nearest
// even (kernels/cpu/lowp_round.h, as CUDA's __float2bfloat16_rn), bf16 → fp32 is exact. The cast
// Plan op of mixed precision, the upload of a batch into a bf16 input and the refresh of the
// parameters' bf16 compute copies all run here. Vectorized (AVX512_BF16's vcvtne2ps2bf16 where
// the CPU has it, picked once from cpuid), elementwise, so deterministic for any thread count.
#pragma once

#include <cstdint>

#include "kernels/common/dtype.h"

namespace ae::cpu {

// y[i] = x[i] converted, for n elements; from == to copies. f16 is not supported on the cpu
// (throws ae::Error). x and y must not overlap unless they are the same pointer with from == to.
void cast(const void* x, DType from, void* y, DType to, int64_t n);

}  // namespace ae::cpu
