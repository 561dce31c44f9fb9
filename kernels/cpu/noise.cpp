// The cpu corruption kernel: one independent Philox draw per element, split over OpenMP threads
// when the pass is large (each element on its own, so the thread count changes no bit).
#include "kernels/cpu/noise.h"

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

void corrupt(const NoiseParams& noise, uint64_t seed, uint64_t step, const float* x, float* y, int64_t n) {
  AE_CHECK(n >= 0, "corrupt: negative size ", n);
  AE_CHECK(static_cast<int>(noise.kind) < NOISE_KIND_COUNT, "corrupt: unknown noise kind ", static_cast<int>(noise.kind));
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "corrupt: x or y is null");
  // A Philox draw costs about 40 integer operations: worth threads well before the plain loops do.
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS / 16)
  for (int64_t i = 0; i < n; ++i) y[i] = ae::corrupt(noise, x[i], seed, step, uint64_t(i));
}

}  // namespace ae::cpu
