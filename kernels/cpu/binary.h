// The cpu reference of the unfused elementwise binary primitive with broadcast: y = a op b over an
// [M, N] a, b full, a row vector (bias-like), a column vector, a scalar or one row or value per
// group of rows (kernels/common/elementwise.h's Broadcast). Its gradient w.r.t. a broadcast b is
// reduce_sum over the broadcast axis.
#pragma once

#include <cstdint>

#include "kernels/common/elementwise.h"

namespace ae::cpu {

// y = a op b, or y += a op b with accumulate. y may alias a (each element of a is read before the
// same element of y is written); it must not alias a broadcast b.
template <typename T>
void binary(BinaryOp op,
            const T* a,  // [M, N]
            const T* b,  // broadcast_size(bb, M, N, G): [M, N] none, [N] row, [M] col, [1] scalar, [G] channel...
            T* y,        // [M, N]
            int64_t M, int64_t N, Broadcast bb, bool accumulate,
            int64_t G = 1);  // rows per sample (Broadcast::sample, tile, channel)

}  // namespace ae::cpu
