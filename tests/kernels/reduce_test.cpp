// The cpu reduce_sum primitive: forward against a naive loop in double for every axis, with alpha
// and accumulate, on odd and empty shapes; the gradient of L = Σ w ⊙ reduce_sum(x) (a broadcast of
// w, built with binary and unary as autodiff builds it) against fp64 central differences; bitwise
// the same result for 1 and 2 threads. The per-sample axes (groups, samples, channels; G rows per
// sample, G in {1, 3, 7, 32}) the same three ways.
#include "kernels/cpu/reduce.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/binary.h"
#include "kernels/cpu/unary.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using gradcheck::all_near;

const ReduceAxis ALL_AXES[] = {ReduceAxis::rows, ReduceAxis::cols, ReduceAxis::all};

int64_t out_size(ReduceAxis axis, int64_t M, int64_t N) {
  return axis == ReduceAxis::rows ? N : (axis == ReduceAxis::cols ? M : 1);
}

std::string label(ReduceAxis axis, int64_t M, int64_t N) {
  return std::string(reduce_axis_name(axis)) + " M=" + std::to_string(M) + " N=" + std::to_string(N);
}

TEST(ReduceSum, ForwardMatchesNaiveLoop) {
  struct Shape {
    int64_t M, N;
  };
  uint64_t seed = 1;
  for (ReduceAxis axis : ALL_AXES)
    for (Shape s : {Shape{1, 1}, Shape{7, 13}, Shape{37, 1}, Shape{1, 29}, Shape{65, 129}, Shape{0, 5}, Shape{5, 0}})
      for (bool accumulate : {false, true}) {
        SCOPED_TRACE(label(axis, s.M, s.N) + " accumulate=" + std::to_string(accumulate));
        const auto x = gradcheck::random_vec(s.M * s.N, seed++);
        const int64_t n_out = out_size(axis, s.M, s.N);
        const auto y0 = gradcheck::random_vec(n_out, seed++);
        const double alpha = -0.75;
        std::vector<double> want(n_out, 0.0);
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j)
            want[axis == ReduceAxis::rows ? j : (axis == ReduceAxis::cols ? i : 0)] += x[i * s.N + j];
        for (int64_t k = 0; k < n_out; ++k) want[k] = (accumulate ? y0[k] : 0.0) + alpha * want[k];
        std::vector<double> y = accumulate ? y0 : std::vector<double>(n_out, NAN);
        reduce_sum<double>(axis, alpha, x.data(), y.data(), s.M, s.N, accumulate);
        // the naive loop sums in another order: allow a few ulp per term
        EXPECT_TRUE(all_near("y", y, want, 1e-15 * (s.M * s.N + 1), s.M == 0 || s.N == 0 || n_out == 0));
      }
}

TEST(ReduceSum, EmptyInputSumsToZero) {
  for (ReduceAxis axis : ALL_AXES) {
    SCOPED_TRACE(reduce_axis_name(axis));
    std::vector<double> y(3, NAN);
    reduce_sum<double>(axis, 2.0, nullptr, y.data(), axis == ReduceAxis::cols ? 3 : 0, axis == ReduceAxis::cols ? 0 : 3,
                       false);
    for (int64_t k = 0; k < (axis == ReduceAxis::all ? 1 : 3); ++k) EXPECT_EQ(y[k], 0.0);
  }
}

TEST(ReduceSum, GradientMatchesCentralDifference) {
  const int64_t M = 6, N = 5;
  uint64_t seed = 300;
  for (ReduceAxis axis : ALL_AXES) {
    SCOPED_TRACE(label(axis, M, N));
    auto x = gradcheck::random_vec(M * N, seed++);
    const auto w = gradcheck::random_vec(out_size(axis, M, N), seed++);
    const double alpha = 1.3;
    auto loss = [&] {
      std::vector<double> y(w.size());
      reduce_sum<double>(axis, alpha, x.data(), y.data(), M, N, false);
      return gradcheck::dot(w, y);
    };
    // dx = alpha · w broadcast over the reduced axis: 0 + w (binary add with broadcast), scaled.
    std::vector<double> dx(M * N, 0.0);
    binary<double>(BinaryOp::add, dx.data(), w.data(), dx.data(), M, N, adjoint_broadcast(axis), false);
    unary<double>(UnaryOp::scale, alpha, dx.data(), dx.data(), M * N);
    EXPECT_TRUE(all_near("dx", dx, gradcheck::numeric_grad(x, loss), 1e-8));
  }
}

TEST(ReduceSum, BitwiseIndependentOfThreadCount) {
  const int64_t M = 301, N = 299;  // past the parallel threshold
  const auto xd = gradcheck::random_vec(M * N, 5);
  const std::vector<float> x(xd.begin(), xd.end());
  const int threads = omp_get_max_threads();
  for (ReduceAxis axis : ALL_AXES) {
    SCOPED_TRACE(reduce_axis_name(axis));
    std::vector<float> one(out_size(axis, M, N)), two(one.size());
    omp_set_num_threads(1);
    reduce_sum<float>(axis, 1.0f, x.data(), one.data(), M, N, false);
    omp_set_num_threads(2);
    reduce_sum<float>(axis, 1.0f, x.data(), two.data(), M, N, false);
    EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  }
  omp_set_num_threads(threads);
}

const ReduceAxis GROUPED_AXES[] = {ReduceAxis::groups, ReduceAxis::samples, ReduceAxis::channels};

// Which output x[r·G + g, n] adds into, written out (sample r, its row g, column n).
int64_t grouped_out(ReduceAxis axis, int64_t r, int64_t g, int64_t n, int64_t N) {
  return axis == ReduceAxis::groups ? r * N + n : axis == ReduceAxis::samples ? g * N + n : g;
}

TEST(ReduceSum, PerSampleForwardMatchesNaiveLoop) {
  struct Shape {
    int64_t samples, N;
  };
  uint64_t seed = 500;
  for (ReduceAxis axis : GROUPED_AXES)
    for (int64_t G : {1, 3, 7, 32})
      for (Shape s : {Shape{1, 1}, Shape{1, 13}, Shape{2, 5}, Shape{9, 37}, Shape{0, 5}})
        for (bool accumulate : {false, true}) {
          const int64_t M = s.samples * G, N = s.N;
          SCOPED_TRACE(label(axis, M, N) + " G=" + std::to_string(G) + " accumulate=" + std::to_string(accumulate));
          const auto x = gradcheck::random_vec(M * N, seed++);
          const int64_t n_out = axis == ReduceAxis::groups ? s.samples * N : axis == ReduceAxis::samples ? G * N : G;
          ASSERT_EQ(reduce_outputs(axis, M, N, G), n_out);
          const auto y0 = gradcheck::random_vec(n_out, seed++);
          const double alpha = -0.75;
          std::vector<double> want(n_out, 0.0);
          for (int64_t r = 0; r < s.samples; ++r)  // sample r's rows are r·G … r·G + G − 1
            for (int64_t g = 0; g < G; ++g)
              for (int64_t n = 0; n < N; ++n)
                want[grouped_out(axis, r, g, n, N)] += x[(r * G + g) * N + n];
          for (int64_t k = 0; k < n_out; ++k) want[k] = (accumulate ? y0[k] : 0.0) + alpha * want[k];
          std::vector<double> y = accumulate ? y0 : std::vector<double>(n_out, NAN);
          reduce_sum<double>(axis, alpha, x.data(), y.data(), M, N, accumulate, G);
          EXPECT_TRUE(all_near("y", y, want, 1e-15 * (M * N + 1), M == 0 || n_out == 0));
        }
}

TEST(ReduceSum, PerSampleGradientMatchesCentralDifference) {
  const int64_t samples = 3, N = 5;
  uint64_t seed = 700;
  for (ReduceAxis axis : GROUPED_AXES)
    for (int64_t G : {1, 4, 7}) {
      const int64_t M = samples * G;
      SCOPED_TRACE(label(axis, M, N) + " G=" + std::to_string(G));
      auto x = gradcheck::random_vec(M * N, seed++);
      const auto w = gradcheck::random_vec(reduce_outputs(axis, M, N, G), seed++);
      auto loss = [&] {
        std::vector<double> y(w.size());
        reduce_sum<double>(axis, 1.3, x.data(), y.data(), M, N, false, G);
        return gradcheck::dot(w, y);
      };
      std::vector<double> dx(M * N, 0.0);
      binary<double>(BinaryOp::add, dx.data(), w.data(), dx.data(), M, N, adjoint_broadcast(axis), false, G);
      unary<double>(UnaryOp::scale, 1.3, dx.data(), dx.data(), M * N);
      EXPECT_TRUE(all_near("dx", dx, gradcheck::numeric_grad(x, loss), 1e-8));
    }
}

TEST(ReduceSum, PerSampleBitwiseIndependentOfThreadCount) {
  const int64_t G = 7, M = 7 * 43, N = 299;  // past the parallel threshold
  const auto xd = gradcheck::random_vec(M * N, 6);
  const std::vector<float> x(xd.begin(), xd.end());
  const int threads = omp_get_max_threads();
  for (ReduceAxis axis : GROUPED_AXES) {
    SCOPED_TRACE(reduce_axis_name(axis));
    std::vector<float> one(reduce_outputs(axis, M, N, G)), two(one.size());
    omp_set_num_threads(1);
    reduce_sum<float>(axis, 1.0f, x.data(), one.data(), M, N, false, G);
    omp_set_num_threads(2);
    reduce_sum<float>(axis, 1.0f, x.data(), two.data(), M, N, false, G);
    EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  }
  omp_set_num_threads(threads);
}

TEST(ReduceSum, BadArgumentsAreErrors) {
  std::vector<double> x(6, 1.0), y(3);
  EXPECT_THROW(reduce_sum<double>(ReduceAxis::rows, 1.0, x.data(), y.data(), -1, 3, false), ae::Error);
  EXPECT_THROW(reduce_sum<double>(ReduceAxis::rows, 1.0, nullptr, y.data(), 2, 3, false), ae::Error);
  EXPECT_THROW(reduce_sum<double>(ReduceAxis::all, 1.0, x.data(), nullptr, 2, 3, false), ae::Error);
  EXPECT_THROW(reduce_sum<double>(static_cast<ReduceAxis>(REDUCE_AXIS_COUNT), 1.0, x.data(), y.data(), 2, 3, false),
               ae::Error);
  // Rows that are not whole samples, and G < 1.
  EXPECT_THROW(reduce_sum<double>(ReduceAxis::groups, 1.0, x.data(), y.data(), 3, 2, false, 2), ae::Error);
  EXPECT_THROW(reduce_sum<double>(ReduceAxis::samples, 1.0, x.data(), y.data(), 2, 3, false, 0), ae::Error);
  EXPECT_THROW(reduce_sum<double>(ReduceAxis::channels, 1.0, x.data(), y.data(), 3, 2, false, 2), ae::Error);
}

}  // namespace
}  // namespace ae::cpu
