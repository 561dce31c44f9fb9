// The cpu reference of the broadcast primitive: y[M, N] = alpha·x spread over rows, columns,
// everything or groups of rows (kernels/common/elementwise.h's Broadcast). It is the adjoint of reduce_sum, so the
// graph uses it for the gradient of a reduction (and of a mean, with alpha = 1/count).
#pragma once

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cpu {

// y = alpha·x[broadcast], or y += … with accumulate. bb = none copies (x [M, N]).
template <typename T>
void broadcast(Broadcast bb, T alpha,
               const T* x,  // broadcast_size(bb, M, N, G): [M, N] none, [N] row, [M] col, [1] scalar, [G] channel...
               T* y,        // [M, N]
               int64_t M, int64_t N, bool accumulate,
               int64_t G = 1);  // rows per sample (Broadcast::sample, tile, channel)

}  // namespace ae::cpu
