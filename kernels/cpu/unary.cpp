// The cpu unary primitive: one loop per op (the switch hoisted out of it, so the loop vectorizes),
// split over OpenMP threads when the pass is large. Each element is computed on its own, so the
// result never depends on the thread count.
#include "kernels/cpu/unary.h"

#include "kernels/common/error.h"
#include "kernels/cpu/simd.h"

namespace ae::cpu {

namespace {

template <UnaryOp OP, typename T>
void unary_loop(T alpha, const T* x, T* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * unary_forward(OP, x[i]);
}

}  // namespace

template <typename T>
void unary(UnaryOp op, T alpha, const T* x, T* y, int64_t n) {
  AE_CHECK(n >= 0, "unary(", unary_op_name(op), "): negative size ", n);
  AE_CHECK(static_cast<int>(op) < UNARY_OP_COUNT, "unary: unknown op ", static_cast<int>(op));
  if (n == 0) return;
  AE_CHECK(x != nullptr && y != nullptr, "unary(", unary_op_name(op), "): x or y is null");
  switch (op) {
    case UnaryOp::scale: return unary_loop<UnaryOp::scale>(alpha, x, y, n);
    case UnaryOp::exp: return unary_loop<UnaryOp::exp>(alpha, x, y, n);
    case UnaryOp::square: return unary_loop<UnaryOp::square>(alpha, x, y, n);
    case UnaryOp::abs: return unary_loop<UnaryOp::abs>(alpha, x, y, n);
    case UnaryOp::sign: return unary_loop<UnaryOp::sign>(alpha, x, y, n);
    case UnaryOp::log: return unary_loop<UnaryOp::log>(alpha, x, y, n);
    case UnaryOp::recip: return unary_loop<UnaryOp::recip>(alpha, x, y, n);
  }
}

template void unary<float>(UnaryOp, float, const float*, float*, int64_t);
template void unary<double>(UnaryOp, double, const double*, double*, int64_t);

}  // namespace ae::cpu
