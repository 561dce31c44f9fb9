// The one place a CUDA kernel moves a value between fp32 arithmetic and its storage type (float,
// __nv_bfloat16, __half): load_as_float widens exactly, store_as rounds to nearest even with CUDA's
// own conversions (__float2bfloat16_rn, __float2half_rn: subnormals kept, fp16 overflow to ±inf,
// NaN stays NaN). They are kernels/cpu/lowp_round.h's bf16_bits/fp16_bits bit for bit except for a
// NaN's payload and sign (CUDA gives the canonical 0x7fff; tests/kernels/cuda/cast_test.cpp). Storage<D> is
// the storage type of a runtime DType (kernels/common/dtype.h). Device and host code alike.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "kernels/common/dtype.h"

namespace ae::cuda {

template <DType D>
using Storage = std::conditional_t<D == DType::bf16, __nv_bfloat16, std::conditional_t<D == DType::f16, __half, float>>;

// An fp32 value stored as OUT (round to nearest even for half/bf16; float unchanged).
template <typename OUT>
__device__ __forceinline__ OUT store_as(float v) {
  if constexpr (std::is_same_v<OUT, float>)
    return v;
  else if constexpr (std::is_same_v<OUT, __half>)
    return __float2half_rn(v);
  else
    return __float2bfloat16_rn(v);
}

// A stored value widened to fp32 (exact).
template <typename T>
__device__ __forceinline__ float load_as_float(T v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else if constexpr (std::is_same_v<T, __half>)
    return __half2float(v);
  else
    return __bfloat162float(v);
}

}  // namespace ae::cuda
