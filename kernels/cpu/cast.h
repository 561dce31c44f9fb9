// Conversions between ae's element types (kernels/common/dtype.h): fp32 → bf16 and fp32 → f16
// round to nearest even (kernels/cpu/lowp_round.h, as CUDA's __float2bfloat16_rn and
// __float2half_rn), bf16 → fp32 and f16 → fp32 are exact. The cast Plan op of mixed precision and
// the conversion of a batch for a bf16 or f16 input run here. Vectorized (AVX512_BF16's
// vcvtne2ps2bf16 where the CPU has it, picked once from cpuid), elementwise, so deterministic for
// any thread count.
#pragma once

#include <cstdint>

#include "kernels/common/dtype.h"

namespace ae::cpu {

// y[i] = x[i] converted, for n elements, any pair of f32, bf16, f16 (an f16 is its 16 bits, as
// lowp_round.h's fp16_bits gives them): NaN stays NaN (quiet), fp16 overflow gives ±inf,
// subnormals are kept; bf16 ↔ f16 widens (exactly) and rounds once; from == to copies. x and y must
// not overlap unless they are the same pointer with from == to.
void cast(const void* x, DType from, void* y, DType to, int64_t n);

}  // namespace ae::cpu
