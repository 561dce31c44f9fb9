// The cpu matmul primitive: forward against a naive double loop for all four transpose
// combinations on odd shapes (overwrite and accumulate), its gradients dA and dB — written as the
// matmuls the graph's autodiff emits, transpose flags flipped — against fp64 central differences,
// and the empty and bad-argument cases.
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using gradcheck::all_near;
using gradcheck::random_vec;

struct Trans {
  bool a, b;
};
const Trans ALL_TRANS[] = {{false, false}, {false, true}, {true, false}, {true, true}};

std::string label(Trans t, int64_t M, int64_t N, int64_t K) {
  return std::string("trans_a=") + (t.a ? "1" : "0") + " trans_b=" + (t.b ? "1" : "0") + " M=" + std::to_string(M) +
         " N=" + std::to_string(N) + " K=" + std::to_string(K);
}

// op(A)·op(B) by the definition, in double.
std::vector<double> naive(Trans t, int64_t M, int64_t N, int64_t K, const std::vector<double>& a,
                          const std::vector<double>& b) {
  std::vector<double> c(M * N, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += (t.a ? a[k * M + m] : a[m * K + k]) * (t.b ? b[n * K + k] : b[k * N + n]);
      c[m * N + n] = s;
    }
  return c;
}

TEST(Matmul, ForwardMatchesNaiveLoop) {
  struct Shape {
    int64_t M, N, K;
  };
  uint64_t seed = 1;
  for (Trans t : ALL_TRANS)
    for (Shape s :
         {Shape{1, 1, 1}, Shape{7, 5, 3}, Shape{13, 11, 17}, Shape{37, 29, 1}, Shape{1, 31, 23}, Shape{65, 3, 64}}) {
      SCOPED_TRACE(label(t, s.M, s.N, s.K));
      const auto a = random_vec(s.M * s.K, seed++), b = random_vec(s.K * s.N, seed++);
      const auto c0 = random_vec(s.M * s.N, seed++);
      const auto want = naive(t, s.M, s.N, s.K, a, b);
      std::vector<double> c(s.M * s.N, NAN);  // not read without accumulate
      matmul<double>(t.a, t.b, s.M, s.N, s.K, a.data(), b.data(), c.data(), false);
      EXPECT_TRUE(all_near("c", c, want, 1e-13));
      // accumulate: c0 + op(A)·op(B)
      std::vector<double> acc = c0, want_acc(s.M * s.N);
      for (size_t i = 0; i < want.size(); ++i) want_acc[i] = c0[i] + want[i];
      matmul<double>(t.a, t.b, s.M, s.N, s.K, a.data(), b.data(), acc.data(), true);
      EXPECT_TRUE(all_near("c += ", acc, want_acc, 1e-13));
      // float: the fast GEMM path, to float accuracy
      std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), cf(s.M * s.N, NAN);
      matmul<float>(t.a, t.b, s.M, s.N, s.K, af.data(), bf.data(), cf.data(), false);
      EXPECT_TRUE(all_near("c (float)", std::vector<double>(cf.begin(), cf.end()), want, 1e-6 * s.K));
    }
}

// L = Σ W ⊙ op(A)·op(B), so dC = W and
//   dA = dC·op(B)ᵀ     (trans_a: dA = op(B)·dCᵀ, A being [K, M])
//   dB = op(A)ᵀ·dC     (trans_b: dB = dCᵀ·op(A), B being [N, K])
// each one matmul call of the primitive with flipped flags, as autodiff lowers them.
TEST(Matmul, GradientsMatchCentralDifferences) {
  const int64_t M = 4, N = 3, K = 5;
  uint64_t seed = 100;
  for (Trans t : ALL_TRANS) {
    SCOPED_TRACE(label(t, M, N, K));
    auto a = random_vec(M * K, seed++), b = random_vec(K * N, seed++);
    const auto w = random_vec(M * N, seed++);  // dC
    auto loss = [&] {
      std::vector<double> c(M * N);
      matmul<double>(t.a, t.b, M, N, K, a.data(), b.data(), c.data(), false);
      return gradcheck::dot(w, c);
    };
    std::vector<double> da(M * K, NAN), db(K * N, NAN);
    if (!t.a)
      matmul<double>(false, !t.b, M, K, N, w.data(), b.data(), da.data(), false);  // [M,N]·op(B)ᵀ
    else
      matmul<double>(t.b, true, K, M, N, b.data(), w.data(), da.data(), false);  // op(B)·dCᵀ
    if (!t.b)
      matmul<double>(!t.a, false, K, N, M, a.data(), w.data(), db.data(), false);  // op(A)ᵀ·dC
    else
      matmul<double>(true, t.a, N, K, M, w.data(), a.data(), db.data(), false);  // dCᵀ·op(A)
    EXPECT_TRUE(all_near("dA", da, gradcheck::numeric_grad(a, loss), 1e-8));
    EXPECT_TRUE(all_near("dB", db, gradcheck::numeric_grad(b, loss), 1e-8));
  }
}

TEST(Matmul, EmptyShapes) {
  std::vector<double> a(6, 1.0), b(6, 1.0), c(6, 7.0);
  matmul<double>(false, false, 0, 3, 2, a.data(), b.data(), c.data(), false);  // M = 0: nothing written
  for (double e : c) EXPECT_EQ(e, 7.0);
  matmul<double>(false, false, 2, 3, 0, nullptr, nullptr, c.data(), true);  // K = 0 accumulate: unchanged
  for (double e : c) EXPECT_EQ(e, 7.0);
  matmul<double>(true, true, 2, 3, 0, nullptr, nullptr, c.data(), false);  // K = 0: C = 0
  for (double e : c) EXPECT_EQ(e, 0.0);
}

TEST(Matmul, BadArgumentsAreErrors) {
  std::vector<double> a(6, 1.0), b(6, 1.0), c(6);
  EXPECT_THROW(matmul<double>(false, false, -1, 3, 2, a.data(), b.data(), c.data(), false), ae::Error);
  EXPECT_THROW(matmul<double>(false, false, 2, 3, 2, a.data(), b.data(), nullptr, false), ae::Error);
  EXPECT_THROW(matmul<double>(false, false, 2, 3, 2, nullptr, b.data(), c.data(), false), ae::Error);
}

}  // namespace
}  // namespace ae::cpu
