// The cpu broadcast primitive: rows split over OpenMP threads when the pass is large; every element
// computed on its own, so the result does not depend on the thread count.
#include "kernels/cpu/broadcast.h"

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

template <typename T>
void broadcast(Broadcast bb, T alpha, const T* x, T* y, int64_t M, int64_t N, bool accumulate, int64_t G) {
  AE_CHECK(M >= 0 && N >= 0, "broadcast: negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(static_cast<int>(bb) < BROADCAST_COUNT, "broadcast: unknown broadcast ", static_cast<int>(bb));
  AE_CHECK(G >= 1 && M % G == 0, "broadcast: ", M, " rows are not whole groups of ", G);
  if (M == 0 || N == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "broadcast(", broadcast_name(bb), "): x or y is null");
#pragma omp parallel for schedule(static) if (M * N >= PARALLEL_MIN_ELEMENTS)
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const T v = alpha * x[broadcast_index(bb, i, j, N, G)];
      y[i * N + j] = accumulate ? y[i * N + j] + v : v;
    }
}

template void broadcast<float>(Broadcast, float, const float*, float*, int64_t, int64_t, bool, int64_t);
template void broadcast<double>(Broadcast, double, const double*, double*, int64_t, int64_t, bool, int64_t);

}  // namespace ae::cpu
