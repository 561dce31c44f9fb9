// The cpu binary primitive: a loop over rows (split over OpenMP threads when the pass is large)
// and, within a row, over columns, the op and the broadcast read through kernels/common/
// elementwise.h. Each element is computed on its own: no dependence on the thread count.
#include "kernels/cpu/binary.h"

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

template <typename T>
void binary(BinaryOp op, const T* a, const T* b, T* y, int64_t M, int64_t N, Broadcast bb, bool accumulate, int64_t G) {
  AE_CHECK(M >= 0 && N >= 0, "binary(", binary_op_name(op), "): negative dimension (M=", M, ", N=", N, ")");
  AE_CHECK(static_cast<int>(op) < BINARY_OP_COUNT, "binary: unknown op ", static_cast<int>(op));
  AE_CHECK(static_cast<int>(bb) < BROADCAST_COUNT, "binary: unknown broadcast ", static_cast<int>(bb));
  AE_CHECK(G >= 1 && M % G == 0, "binary: ", M, " rows are not whole groups of ", G);
  if (M == 0 || N == 0) return;
  AE_CHECK(a != nullptr && b != nullptr && y != nullptr, "binary(", binary_op_name(op), "): a, b or y is null");
#pragma omp parallel for schedule(static) if (M * N >= PARALLEL_MIN_ELEMENTS)
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const T v = binary_apply(op, a[i * N + j], b[broadcast_index(bb, i, j, N, G)]);
      y[i * N + j] = accumulate ? y[i * N + j] + v : v;
    }
  }
}

template void binary<float>(BinaryOp, const float*, const float*, float*, int64_t, int64_t, Broadcast, bool, int64_t);
template void binary<double>(BinaryOp, const double*, const double*, double*, int64_t, int64_t, Broadcast, bool, int64_t);

}  // namespace ae::cpu
