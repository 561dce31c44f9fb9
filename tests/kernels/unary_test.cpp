// The cpu unary primitive y = alpha·f(x): forward against a naive loop in double for every op (and
// in place), and d/dx of L = Σ w ⊙ unary(x) against fp64 central differences, the analytic
// gradient built from the primitives as autodiff builds it: scale → alpha·w, exp → w ⊙ unary(exp),
// square → w ⊙ unary(scale, 2·alpha), abs → w ⊙ unary(sign), sign → 0, log → w ⊙ unary(recip, alpha),
// recip → w ⊙ unary(square, −alpha) of unary(recip). log and recip are tested on positive inputs.
#include "kernels/cpu/unary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/binary.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using gradcheck::all_near;

const UnaryOp ALL_OPS[] = {UnaryOp::scale, UnaryOp::exp,  UnaryOp::square, UnaryOp::abs,
                           UnaryOp::sign,  UnaryOp::log, UnaryOp::recip};

bool positive_domain(UnaryOp op) { return op == UnaryOp::log || op == UnaryOp::recip; }
void into_domain(UnaryOp op, std::vector<double>& x) {
  if (positive_domain(op))
    for (double& v : x) v = std::fabs(v) + 0.25;
}

double naive_f(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::scale: return x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::abs: return std::fabs(x);
    case UnaryOp::sign: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::recip: return 1.0 / x;
  }
  return NAN;
}

TEST(Unary, ForwardMatchesNaiveLoop) {
  for (UnaryOp op : ALL_OPS)
    for (int64_t n : {1, 37, 129}) {
      SCOPED_TRACE(std::string(unary_op_name(op)) + " n=" + std::to_string(n));
      auto x = gradcheck::random_vec(n, 7 + n, -2, 2);
      if (n > 1) x[n / 2] = 0.0;  // sign(0) = 0, |0| = 0
      into_domain(op, x);
      const double alpha = -1.75;
      std::vector<double> want(n), y(n, NAN);
      for (int64_t i = 0; i < n; ++i) want[i] = alpha * naive_f(op, x[i]);
      unary<double>(op, alpha, x.data(), y.data(), n);
      EXPECT_TRUE(all_near("y", y, want, 1e-15));
      unary<double>(op, alpha, x.data(), x.data(), n);  // in place
      EXPECT_TRUE(all_near("y in place", x, want, 1e-15));
    }
}

TEST(Unary, FloatMatchesDouble) {
  for (UnaryOp op : ALL_OPS) {
    SCOPED_TRACE(unary_op_name(op));
    auto x = gradcheck::random_vec(65, 3, -3, 3);
    into_domain(op, x);
    const std::vector<float> xf(x.begin(), x.end());
    std::vector<float> yf(65, NAN);
    std::vector<double> yd(65), xr(xf.begin(), xf.end());
    unary<float>(op, 0.5f, xf.data(), yf.data(), 65);
    unary<double>(op, 0.5, xr.data(), yd.data(), 65);
    EXPECT_TRUE(all_near("y", std::vector<double>(yf.begin(), yf.end()), yd, 1e-6));
  }
}

// dL/dx of L = Σ w ⊙ (alpha·f(x)), from the primitives.
std::vector<double> analytic_dx(UnaryOp op, double alpha, const std::vector<double>& x, const std::vector<double>& w) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<double> t(n), dx(n, NAN);
  switch (op) {
    case UnaryOp::scale: unary<double>(UnaryOp::scale, alpha, w.data(), dx.data(), n); return dx;
    case UnaryOp::exp: unary<double>(UnaryOp::exp, alpha, x.data(), t.data(), n); break;
    case UnaryOp::square: unary<double>(UnaryOp::scale, 2 * alpha, x.data(), t.data(), n); break;
    case UnaryOp::abs: unary<double>(UnaryOp::sign, alpha, x.data(), t.data(), n); break;
    case UnaryOp::sign: unary<double>(UnaryOp::scale, 0.0, w.data(), dx.data(), n); return dx;
    case UnaryOp::log: unary<double>(UnaryOp::recip, alpha, x.data(), t.data(), n); break;
    case UnaryOp::recip:
      unary<double>(UnaryOp::recip, 1.0, x.data(), t.data(), n);
      unary<double>(UnaryOp::square, -alpha, t.data(), t.data(), n);
      break;
  }
  binary<double>(BinaryOp::mul, w.data(), t.data(), dx.data(), 1, n, Broadcast::none, false);
  return dx;
}

TEST(Unary, GradientMatchesCentralDifference) {
  const int64_t n = 23;
  for (UnaryOp op : ALL_OPS)
    for (double alpha : {1.0, -0.6}) {
      SCOPED_TRACE(std::string(unary_op_name(op)) + " alpha=" + std::to_string(alpha));
      auto x = gradcheck::away_from_zero(n, 11);  // abs and sign have their kink at 0
      into_domain(op, x);
      const auto w = gradcheck::random_vec(n, 12);
      auto loss = [&] {
        std::vector<double> y(n);
        unary<double>(op, alpha, x.data(), y.data(), n);
        return gradcheck::dot(w, y);
      };
      const auto dx = analytic_dx(op, alpha, x, w);
      EXPECT_TRUE(all_near("dx", dx, gradcheck::numeric_grad(x, loss), 1e-8, op == UnaryOp::sign));
      // and the shared derivative every backend's fused code may use
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(dx[i], w[i] * alpha * unary_derivative(op, x[i]), 1e-15);
    }
}

TEST(Unary, KinksTakePyTorchSide) {
  EXPECT_EQ(unary_forward(UnaryOp::sign, 0.0), 0.0);
  EXPECT_EQ(unary_derivative(UnaryOp::abs, 0.0), 0.0);  // torch: d|x|/dx at 0 is sign(0) = 0
  EXPECT_EQ(unary_derivative(UnaryOp::sign, 3.0), 0.0);
}

TEST(Unary, BadArgumentsAreErrors) {
  std::vector<double> x(4, 1.0);
  EXPECT_THROW(unary<double>(UnaryOp::exp, 1.0, x.data(), x.data(), -1), ae::Error);
  EXPECT_THROW(unary<double>(UnaryOp::exp, 1.0, nullptr, x.data(), 4), ae::Error);
  EXPECT_THROW(unary<double>(static_cast<UnaryOp>(9), 1.0, x.data(), x.data(), 4), ae::Error);
  EXPECT_NO_THROW(unary<double>(UnaryOp::exp, 1.0, nullptr, nullptr, 0));
}

}  // namespace
}  // namespace ae::cpu
