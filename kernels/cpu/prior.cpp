// The cpu prior-sample kernel: one independent Philox draw per element, split over OpenMP threads
// when the pass is large (each element on its own, so the thread count changes no bit).
#include "kernels/cpu/prior.h"

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

void prior_sample(PriorKind kind, uint64_t seed, uint64_t step, float* y, int64_t n) {
  AE_CHECK(n >= 0, "prior_sample: negative size ", n);
  AE_CHECK(static_cast<int>(kind) < PRIOR_KIND_COUNT, "prior_sample: unknown prior kind ", static_cast<int>(kind));
  if (n == 0) return;
  AE_CHECK(y != nullptr, "prior_sample: y is null");
  // A Philox draw costs about 40 integer operations: worth threads well before the plain loops do.
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS / 16)
  for (int64_t i = 0; i < n; ++i) y[i] = ae::prior_sample(kind, seed, step, uint64_t(i));
}

}  // namespace ae::cpu
