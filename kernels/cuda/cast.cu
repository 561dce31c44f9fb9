// The cast Plan op: one element per thread per step of a grid-stride loop (grid_stride.cuh), each
// widened to fp32 and rounded into the target type through lowp_value.cuh (CUDA's own
// __float2bfloat16_rn / __float2half_rn / __bfloat162float / __half2float), a plain copy when the
// types agree. One kernel template over (FROM, TO) storage types; the runtime dtypes reach it
// through the 3×3 table above the launcher, the only place the nine instances are named.
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/cuda/cast.cuh"
#include "kernels/cuda/grid_stride.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lowp_value.cuh"

namespace ae::cuda {

namespace {

// The widening is exact, so every pair rounds at most once: bf16 → f16 is correctly rounded.
template <typename FROM, typename TO>
__global__ void __launch_bounds__(grid_stride::THREADS) cast_kernel(const FROM* x,  // [n]
                                                                    TO* y,          // [n]
                                                                    int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if constexpr (std::is_same_v<FROM, TO>)
      y[i] = x[i];  // bits kept, NaN payloads included
    else
      y[i] = store_as<TO>(load_as_float(x[i]));
  }
}

template <DType FROM, DType TO>
void cast_typed(const void* x, void* y, int64_t n, cudaStream_t stream) {
  launch("cast", cast_kernel<Storage<FROM>, Storage<TO>>, grid_stride::grid_for(n), dim3(grid_stride::THREADS), 0,
         stream, static_cast<const Storage<FROM>*>(x), static_cast<Storage<TO>*>(y), n);
}

// The dispatch table, indexed [from][to] by the DType values.
using CastFn = void (*)(const void* x, void* y, int64_t n, cudaStream_t stream);
static_assert(DTYPE_COUNT == 3 && int(DType::f32) == 0 && int(DType::bf16) == 1 && int(DType::f16) == 2,
              "CAST_TABLE lists the dtypes in enum order");
template <DType FROM>
constexpr CastFn CAST_ROW[DTYPE_COUNT] = {cast_typed<FROM, DType::f32>, cast_typed<FROM, DType::bf16>,
                                          cast_typed<FROM, DType::f16>};
constexpr const CastFn* CAST_TABLE[DTYPE_COUNT] = {CAST_ROW<DType::f32>, CAST_ROW<DType::bf16>, CAST_ROW<DType::f16>};

}  // namespace

void cast(const void* x, DType from, void* y, DType to, int64_t n, cudaStream_t stream) {
  AE_CHECK(static_cast<int>(from) < DTYPE_COUNT && static_cast<int>(to) < DTYPE_COUNT, "cuda cast: unknown dtype ",
           static_cast<int>(from), " → ", static_cast<int>(to));
  AE_CHECK(n >= 0, "cuda cast ", dtype_name(from), " → ", dtype_name(to), ": negative size ", n);
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "cuda cast ", dtype_name(from), " → ", dtype_name(to), ": x or y is null for ",
           n, " elements");
  if (x == y && from == to) return;
  // Elementwise in parallel: an overlap would let one thread's store clobber another's load.
  const auto xb = reinterpret_cast<uintptr_t>(x), yb = reinterpret_cast<uintptr_t>(y);
  const auto x_end = xb + uintptr_t(n * dtype_bytes(from)), y_end = yb + uintptr_t(n * dtype_bytes(to));
  AE_CHECK(x_end <= yb || y_end <= xb, "cuda cast ", dtype_name(from), " → ", dtype_name(to),
           ": x and y overlap; cast into a separate buffer");
  CAST_TABLE[static_cast<int>(from)][static_cast<int>(to)](x, y, n, stream);
}

}  // namespace ae::cuda
