// The elementwise math of ae's unfused primitive kernels (unary, binary with broadcast, reduce_sum),
// shared by every backend: the op enums the graph's attribute records name, each unary function with
// its derivative, the binary ops, and how a broadcast operand is indexed. Device-safe like
// kernels/common/activation.h (AE_HD); the name tables at the bottom are host-only.
#pragma once

#include <cstdint>

#include "kernels/common/activation.h"  // AE_HD and the float/double math:: overloads

namespace ae {

// A weight that ramps linearly from 0 over `ramp` steps (a VAE's KL warm-up): weight·min(1, (t − 1)/ramp)
// at 1-based training step t, in double, then rounded once; ramp ≤ 0 or t outside training (0):
// the weight itself.
AE_HD inline double ramp_weight(double weight, int64_t step, int64_t ramp) {
  if (ramp <= 0 || step < 1) return weight;
  const double f = static_cast<double>(step - 1) / static_cast<double>(ramp);
  return f < 1.0 ? weight * f : weight;
}

// y = alpha · f(x).
enum class UnaryOp : uint8_t {
  scale,   // f(x) = x
  exp,     // f(x) = e^x
  square,  // f(x) = x²
  abs,     // f(x) = |x|
  sign,    // f(x) = −1, 0 or 1, as torch.sign (sign(0) = 0)
  log,     // f(x) = ln x (x > 0: a batch mean of sigmoid units, in the KL sparsity penalty)
  recip,   // f(x) = 1/x (the derivative of log)
};
inline constexpr int UNARY_OP_COUNT = 7;

// y = a op b, b possibly broadcast (see Broadcast).
enum class BinaryOp : uint8_t { add, sub, mul };
inline constexpr int BINARY_OP_COUNT = 3;

// The shape of b against an [M, N] a. The last three serve per-sample blocks of rows: a holds G
// rows per sample ([B·G, N], e.g. the contractive penalty's Jacobian rows, or an NCHW tensor seen
// as [B·C, H·W] with G = C) and G is passed along.
enum class Broadcast : uint8_t {
  none,    // b [M, N]
  row,     // b [N]: the same vector for every row (a bias)
  col,     // b [M]: one value per row
  scalar,  // b [1]
  sample,  // b [M/G, N]: row i of a meets row i/G of b (one row per sample, for each of its G rows)
  tile,    // b [G, N]: row i of a meets row i%G of b (the same G rows for every sample)
  channel, // b [G]: row i of a meets b[i%G] in every column (a convolution's per-channel bias over
           //   the [B·C, H·W] view of an NCHW tensor, G = C)
};
inline constexpr int BROADCAST_COUNT = 7;

// What reduce_sum sums over an [M, N] x (G rows per sample for the last three).
enum class ReduceAxis : uint8_t {
  rows,     // y [N] = Σ_m x[m, n]  (a bias gradient; the adjoint of Broadcast::row)
  cols,     // y [M] = Σ_n x[m, n]  (the adjoint of Broadcast::col)
  all,      // y [1] = Σ x          (the adjoint of Broadcast::scalar)
  groups,   // y [M/G, N] = Σ_g x[r·G + g, n]: each sample's G rows (the adjoint of Broadcast::sample)
  samples,  // y [G, N] = Σ_r x[r·G + g, n]: over the samples (the adjoint of Broadcast::tile)
  channels, // y [G] = Σ_r Σ_n x[r·G + g, n]: per channel (the adjoint of Broadcast::channel)
};
inline constexpr int REDUCE_AXIS_COUNT = 6;

template <typename T>
AE_HD inline T sign_of(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));  // NaN compares false both ways: 0
}

// f(x), without alpha.
template <typename T>
AE_HD inline T unary_forward(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::scale: return x;
    case UnaryOp::exp: return math::exp(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::abs: return math::abs(x);
    case UnaryOp::sign: return sign_of(x);
    case UnaryOp::log: return math::log(x);
    case UnaryOp::recip: return T(1) / x;
  }
  return x;
}

// f′(x), without alpha. At the kinks it takes PyTorch's choice: abs′(0) = sign(0) = 0; sign′ = 0.
template <typename T>
AE_HD inline T unary_derivative(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::scale: return T(1);
    case UnaryOp::exp: return math::exp(x);
    case UnaryOp::square: return T(2) * x;
    case UnaryOp::abs: return sign_of(x);
    case UnaryOp::sign: return T(0);
    case UnaryOp::log: return T(1) / x;
    case UnaryOp::recip: return T(-1) / (x * x);
  }
  return T(1);
}

template <typename T>
AE_HD inline T binary_apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
  }
  return a;
}

// The offset in b of the element that meets a[i, j] of an [M, N] a (row-major, N columns; G rows
// per sample for sample, tile and channel).
AE_HD inline int64_t broadcast_index(Broadcast bb, int64_t i, int64_t j, int64_t N, int64_t G = 1) {
  switch (bb) {
    case Broadcast::none: return i * N + j;
    case Broadcast::row: return j;
    case Broadcast::col: return i;
    case Broadcast::scalar: return 0;
    case Broadcast::sample: return (i / G) * N + j;
    case Broadcast::tile: return (i % G) * N + j;
    case Broadcast::channel: return i % G;
  }
  return 0;
}

// The number of elements b holds for an [M, N] a.
AE_HD inline int64_t broadcast_size(Broadcast bb, int64_t M, int64_t N, int64_t G = 1) {
  switch (bb) {
    case Broadcast::none: return M * N;
    case Broadcast::row: return N;
    case Broadcast::col: return M;
    case Broadcast::scalar: return 1;
    case Broadcast::sample: return (M / G) * N;
    case Broadcast::tile: return G * N;
    case Broadcast::channel: return G;
  }
  return 0;
}

// The number of values reduce_sum writes for an [M, N] x (G rows per sample).
AE_HD inline int64_t reduce_outputs(ReduceAxis axis, int64_t M, int64_t N, int64_t G = 1) {
  switch (axis) {
    case ReduceAxis::rows: return N;
    case ReduceAxis::cols: return M;
    case ReduceAxis::all: return 1;
    case ReduceAxis::groups: return (M / G) * N;
    case ReduceAxis::samples: return G * N;
    case ReduceAxis::channels: return G;
  }
  return 0;
}

}  // namespace ae

// ---- host functions: names for plans, test names and error messages ----
namespace ae {

inline constexpr const char* UNARY_OP_NAMES[UNARY_OP_COUNT] = {"scale", "exp", "square", "abs", "sign", "log", "recip"};
inline constexpr const char* BINARY_OP_NAMES[BINARY_OP_COUNT] = {"add", "sub", "mul"};
inline constexpr const char* BROADCAST_NAMES[BROADCAST_COUNT] = {"none", "row", "col", "scalar", "sample", "tile", "channel"};
inline constexpr const char* REDUCE_AXIS_NAMES[REDUCE_AXIS_COUNT] = {"rows", "cols", "all", "groups", "samples", "channels"};

inline const char* unary_op_name(UnaryOp op) {
  auto i = static_cast<int>(op);
  return i < UNARY_OP_COUNT ? UNARY_OP_NAMES[i] : "?";
}
inline const char* binary_op_name(BinaryOp op) {
  auto i = static_cast<int>(op);
  return i < BINARY_OP_COUNT ? BINARY_OP_NAMES[i] : "?";
}
// Broadcast and reduction are each other's adjoints: the gradient of a broadcast over rows is a sum
// over rows, and so on (none pairs with a sum over everything only where a caller needs it).
AE_HD constexpr ReduceAxis adjoint_axis(Broadcast bb) {
  switch (bb) {
    case Broadcast::row: return ReduceAxis::rows;
    case Broadcast::col: return ReduceAxis::cols;
    case Broadcast::sample: return ReduceAxis::groups;
    case Broadcast::tile: return ReduceAxis::samples;
    case Broadcast::channel: return ReduceAxis::channels;
    default: return ReduceAxis::all;
  }
}
AE_HD constexpr Broadcast adjoint_broadcast(ReduceAxis axis) {
  switch (axis) {
    case ReduceAxis::rows: return Broadcast::row;
    case ReduceAxis::cols: return Broadcast::col;
    case ReduceAxis::groups: return Broadcast::sample;
    case ReduceAxis::samples: return Broadcast::tile;
    case ReduceAxis::channels: return Broadcast::channel;
    default: return Broadcast::scalar;
  }
}

inline const char* broadcast_name(Broadcast bb) {
  auto i = static_cast<int>(bb);
  return i < BROADCAST_COUNT ? BROADCAST_NAMES[i] : "?";
}
inline const char* reduce_axis_name(ReduceAxis axis) {
  auto i = static_cast<int>(axis);
  return i < REDUCE_AXIS_COUNT ? REDUCE_AXIS_NAMES[i] : "?";
}

}  // namespace ae
