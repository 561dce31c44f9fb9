// ae::cpu::gemm: every transpose combination on adversarial shapes against a naive fp64 loop,
// exact small-integer mode (bit equality), alpha/beta and padded leading dimensions (padding must
// survive), BLAS edge cases (sizes 0, alpha 0, beta 0 over NaN), argument errors, the fp64
// instantiation, bitwise determinism, and the thread-count plumbing.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/common/error.h"

namespace ae::cpu {
namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  int64_t pad;  // extra elements at the end of every row of A, B and C (ld = width + pad)
  double alpha, beta;
  uint64_t seed;
  std::string str() const {
    std::ostringstream os;
    os << "gemm(ta=" << ta << ",tb=" << tb << ",M=" << M << ",N=" << N << ",K=" << K
       << ",pad=" << pad << ",alpha=" << alpha << ",beta=" << beta << ",seed=" << seed << ")";
    return os.str();
  }
  int64_t a_rows() const { return ta ? K : M; }
  int64_t a_cols() const { return ta ? M : K; }
  int64_t b_rows() const { return tb ? N : K; }
  int64_t b_cols() const { return tb ? K : N; }
  int64_t lda() const { return a_cols() + pad; }
  int64_t ldb() const { return b_cols() + pad; }
  int64_t ldc() const { return N + pad; }
};

// Row-major matrices with padded rows; the padding holds a sentinel that gemm must never touch.
template <typename T>
struct Operands {
  std::vector<T> A, B, C;  // [a_rows, lda], [b_rows, ldb], [M, ldc]
};

constexpr float SENTINEL = -12345.0f;

// Entries drawn uniformly from [-1, 1], or small integers in [-3, 3] when `integers`.
template <typename T>
Operands<T> make_operands(const Case& c, bool integers) {
  std::mt19937_64 rng(c.seed);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<int> integer(-3, 3);
  auto fill = [&](std::vector<T>& v, int64_t rows, int64_t cols, int64_t ld) {
    v.assign(size_t(std::max<int64_t>(rows * ld, 1)), T(SENTINEL));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) v[i * ld + j] = integers ? T(integer(rng)) : T(real(rng));
  };
  Operands<T> o;
  fill(o.A, c.a_rows(), c.a_cols(), c.lda());
  fill(o.B, c.b_rows(), c.b_cols(), c.ldb());
  fill(o.C, c.M, c.N, c.ldc());
  if (c.beta == 0.0)  // BLAS: with beta = 0, C is not read; NaN there must not leak into the result
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) o.C[i * c.ldc() + j] = std::numeric_limits<T>::quiet_NaN();
  return o;
}

// The naive fp64 reference: ref[i,j] = alpha·Σ_k op(A)[i,k]·op(B)[k,j] + beta·C0[i,j], and
// mag[i,j] = |alpha|·Σ_k |op(A)[i,k]·op(B)[k,j]| + |beta·C0[i,j]|, the scale of its rounding error.
template <typename T>
void reference(const Case& c, const Operands<T>& o, std::vector<double>& ref,
               std::vector<double>& mag) {
  ref.assign(size_t(c.M * c.N), 0.0);
  mag.assign(size_t(c.M * c.N), 0.0);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0, m = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        double a = c.ta ? o.A[k * c.lda() + i] : o.A[i * c.lda() + k];
        double b = c.tb ? o.B[j * c.ldb() + k] : o.B[k * c.ldb() + j];
        s += a * b;
        m += std::fabs(a * b);
      }
      double c0 = c.beta == 0.0 ? 0.0 : double(o.C[i * c.ldc() + j]);
      ref[i * c.N + j] = c.alpha * s + c.beta * c0;
      mag[i * c.N + j] = std::fabs(c.alpha) * m + std::fabs(c.beta * c0);
    }
}

template <typename T>
void run(const Case& c, Operands<T>& o) {
  gemm<T>(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), o.A.data(), c.lda(), o.B.data(), c.ldb(),
          T(c.beta), o.C.data(), c.ldc());
}

// Every padding element of C still holds the sentinel.
template <typename T>
void expect_padding_intact(const Case& c, const std::vector<T>& C) {
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < c.ldc(); ++j)
      ASSERT_EQ(C[i * c.ldc() + j], T(SENTINEL)) << "padding of C overwritten at row " << i;
}

// Compares against the fp64 reference with the classical rounding bound: K products summed in any
// order, blocking or FMA use (γ_K), then alpha·, beta· and the final add, so |error| ≤ (K+3)·u·mag
// to first order (1% slack for the second). A missing or misplaced term is of order |a·b|, far
// outside it. Returns the worst error as a fraction of the bound: the margin left.
template <typename T>
double check_close(const Case& c, const Operands<T>& o, const std::vector<T>& C) {
  std::vector<double> ref, mag;
  reference(c, o, ref, mag);
  const double u = std::numeric_limits<T>::epsilon() / 2;
  double worst_ratio = 0, norm = 0;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      const double got = C[i * c.ldc() + j], want = ref[i * c.N + j];
      EXPECT_TRUE(std::isfinite(got)) << c.str() << " C[" << i << "," << j << "] = " << got;
      const double tol = (double(c.K) + 3) * u * mag[i * c.N + j] * 1.01 + 1e-300;
      if (!(std::fabs(got - want) <= tol)) {
        ADD_FAILURE() << c.str() << " C[" << i << "," << j << "] = " << got << ", reference "
                      << want << ", bound " << tol;
        return INFINITY;
      }
      worst_ratio = std::max(worst_ratio, std::fabs(got - want) / tol);
      norm += want * want;
    }
  EXPECT_GT(norm, 0.0) << c.str() << ": vacuous case, the reference is all zeros";
  expect_padding_intact(c, C);
  return worst_ratio;
}

std::vector<Case> odd_cases() {
  // Around typical SIMD widths and register tiles (8, 16, 32, 48) and the model's sizes.
  const int64_t sizes[][3] = {{1, 1, 1},    {1, 7, 31},    {7, 1, 33},   {31, 33, 1},
                              {33, 31, 7},  {17, 257, 9},  {257, 17, 48}, {48, 49, 257},
                              {64, 15, 784}, {256, 32, 256}, {32, 256, 33}, {129, 63, 65}};
  const double ab[][2] = {{1.0, 0.0}, {-0.75, 1.0}, {2.0, 0.5}};
  std::vector<Case> cases;
  uint64_t seed = 1;
  for (auto& s : sizes)
    for (int t = 0; t < 4; ++t)
      for (auto& p : ab) {
        const int64_t pad = (seed % 3 == 0) ? 0 : int64_t(seed % 5 + 1);
        cases.push_back({(t & 2) != 0, (t & 1) != 0, s[0], s[1], s[2], pad, p[0], p[1], seed++});
      }
  return cases;
}

TEST(Gemm, FloatMatchesFp64ReferenceOnOddShapes) {
  double worst = 0;
  for (int threads : {1, 2}) {
    set_gemm_threads(threads);
    for (const Case& c : odd_cases()) {
      SCOPED_TRACE(c.str() + " threads=" + std::to_string(threads));
      Operands<float> o = make_operands<float>(c, false);
      Operands<float> out = o;
      run(c, out);
      worst = std::max(worst, check_close(c, o, out.C));
    }
  }
  std::printf("float: worst error %.3f of the rounding bound\n", worst);
}

TEST(Gemm, DoubleMatchesFp64ReferenceOnOddShapes) {
  double worst = 0;
  for (const Case& c : odd_cases()) {
    SCOPED_TRACE(c.str());
    Operands<double> o = make_operands<double>(c, false);
    Operands<double> out = o;
    run(c, out);
    worst = std::max(worst, check_close(c, o, out.C));
  }
  std::printf("double: worst error %.3g of the rounding bound\n", worst);
}

// Small integers make every partial sum exact in fp32 (|sum| ≤ 784·9 + 3·|beta·C| ≪ 2^24), so any
// summation order gives the exact answer and the check is bit equality: a tiling or tail bug that
// drops, doubles or misplaces one term is a hard failure.
TEST(Gemm, ExactOnSmallIntegers) {
  for (int threads : {1, 2}) {
    set_gemm_threads(threads);
    for (Case c : odd_cases()) {
      c.alpha = c.alpha == -0.75 ? -1.0 : c.alpha;  // keep alpha·sum an integer
      c.beta = c.beta == 0.5 ? 2.0 : c.beta;
      SCOPED_TRACE(c.str() + " threads=" + std::to_string(threads));
      Operands<float> o = make_operands<float>(c, true);
      Operands<float> out = o;
      run(c, out);
      std::vector<double> ref, mag;
      reference(c, o, ref, mag);
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j)
          ASSERT_EQ(out.C[i * c.ldc() + j], float(ref[i * c.N + j]))
              << "C[" << i << "," << j << "]";
      expect_padding_intact(c, out.C);
    }
  }
}

// The model's own shapes at batch 256 (forward NT, dW TN, dX NN), exactly.
TEST(Gemm, ExactOnTheAutoencoderShapes) {
  const int64_t layers[][2] = {{784, 256}, {256, 32}, {32, 256}, {256, 784}};  // {in, out}
  uint64_t seed = 100;
  for (auto& l : layers) {
    const int64_t in = l[0], out = l[1], batch = 256;
    for (Case c : {Case{false, true, batch, out, in, 0, 1.0, 0.0, seed++},
                   Case{true, false, out, in, batch, 0, 1.0, 1.0, seed++},
                   Case{false, false, batch, in, out, 0, 1.0, 0.0, seed++}}) {
      SCOPED_TRACE(c.str());
      Operands<float> o = make_operands<float>(c, true);
      Operands<float> res = o;
      run(c, res);
      std::vector<double> ref, mag;
      reference(c, o, ref, mag);
      for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(res.C[i], float(ref[i])) << "element " << i;
    }
  }
}

// Same inputs, fresh buffers each run (so addresses and their alignment differ): same bits, for
// each thread count. Shapes large enough that oneDNN splits the work between threads.
TEST(Gemm, BitwiseDeterministicForAThreadCount) {
  const Case cases[] = {{false, true, 256, 784, 256, 0, 1.0, 0.0, 7},
                        {true, false, 784, 256, 256, 0, 1.0, 1.0, 8},
                        {false, false, 257, 33, 1001, 3, -0.5, 0.25, 9},
                        {true, true, 31, 513, 127, 1, 1.5, 0.0, 10}};
  for (int threads : {1, 2}) {
    set_gemm_threads(threads);
    for (const Case& c : cases) {
      SCOPED_TRACE(c.str() + " threads=" + std::to_string(threads));
      Operands<float> o = make_operands<float>(c, false);
      std::vector<float> first;
      for (int rep = 0; rep < 3; ++rep) {
        // Shift each copy by `rep` floats inside a bigger allocation: unaligned as well as aligned.
        std::vector<float> a(o.A.size() + 8), b(o.B.size() + 8), cc(o.C.size() + 8);
        std::copy(o.A.begin(), o.A.end(), a.begin() + rep);
        std::copy(o.B.begin(), o.B.end(), b.begin() + rep);
        std::copy(o.C.begin(), o.C.end(), cc.begin() + rep);
        gemm<float>(c.ta, c.tb, c.M, c.N, c.K, float(c.alpha), a.data() + rep, c.lda(),
                    b.data() + rep, c.ldb(), float(c.beta), cc.data() + rep, c.ldc());
        std::vector<float> got(cc.begin() + rep, cc.begin() + rep + int64_t(o.C.size()));
        if (rep == 0) {
          first = got;
          check_close(c, o, got);
        } else {
          ASSERT_EQ(0, std::memcmp(first.data(), got.data(), first.size() * sizeof(float)))
              << "run " << rep << " differs from run 0";
        }
      }
    }
  }
}

// Called from inside an OpenMP parallel region, each call runs on its own thread, and gives the
// same bits as a 1-thread GEMM; the caller's OpenMP thread setting is left as it was.
TEST(Gemm, InsideParallelRegionAndThreadSettingRestored) {
  const Case c{false, true, 96, 200, 300, 0, 1.0, 0.0, 11};
  Operands<float> o = make_operands<float>(c, false);
  set_gemm_threads(1);
  Operands<float> single = o;
  run(c, single);
  std::vector<Operands<float>> per_thread(4, o);
#pragma omp parallel for num_threads(2)
  for (int t = 0; t < 4; ++t) run(c, per_thread[t]);
  for (int t = 0; t < 4; ++t)
    ASSERT_EQ(0, std::memcmp(single.C.data(), per_thread[t].C.data(), o.C.size() * sizeof(float)))
        << "call " << t;

  omp_set_num_threads(3);
  set_gemm_threads(2);
  Operands<float> two = o;
  run(c, two);
  EXPECT_EQ(omp_get_max_threads(), 3) << "gemm changed the caller's OpenMP thread count";
  check_close(c, o, two.C);
}

TEST(Gemm, ZeroSizesAndZeroAlpha) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> C = {1, 2, 3, 4, 5, 6};  // [2,3]
  // M = 0 or N = 0: nothing to do, and null pointers are fine.
  gemm<float>(false, false, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 3);
  gemm<float>(false, false, 2, 0, 4, 1.0f, nullptr, 4, nullptr, 1, 0.0f, nullptr, 1);
  // K = 0: C = beta·C; A and B are not read.
  gemm<float>(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 2.0f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{2, 4, 6, 8, 10, 12}));
  // alpha = 0: C = beta·C, even when A and B hold NaN (BLAS does not read them).
  std::vector<float> A(8, nan), B(12, nan);
  gemm<float>(false, false, 2, 3, 4, 0.0f, A.data(), 4, B.data(), 3, 0.5f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // alpha = 0 and beta = 0 over NaN: zeros.
  std::vector<float> Cn(6, nan);
  gemm<float>(true, true, 2, 3, 4, 0.0f, A.data(), 2, B.data(), 4, 0.0f, Cn.data(), 3);
  EXPECT_EQ(Cn, std::vector<float>(6, 0.0f));
  std::vector<double> Cd(6, 1.0);
  gemm<double>(false, false, 2, 3, 0, 1.0, nullptr, 1, nullptr, 3, 0.0, Cd.data(), 3);
  EXPECT_EQ(Cd, std::vector<double>(6, 0.0));
}

TEST(Gemm, BadArgumentsThrow) {
  std::vector<float> A(64, 1.0f), B(64, 1.0f), C(64);
  // lda below the width of A's rows, for both layouts.
  EXPECT_THROW(gemm<float>(false, false, 4, 4, 4, 1.0f, A.data(), 3, B.data(), 4, 0.0f, C.data(), 4),
               Error);
  EXPECT_THROW(gemm<float>(true, false, 5, 4, 4, 1.0f, A.data(), 4, B.data(), 4, 0.0f, C.data(), 4),
               Error);
  EXPECT_THROW(gemm<float>(false, true, 4, 5, 4, 1.0f, A.data(), 4, B.data(), 3, 0.0f, C.data(), 5),
               Error);
  EXPECT_THROW(gemm<float>(false, false, 4, 5, 4, 1.0f, A.data(), 4, B.data(), 5, 0.0f, C.data(), 4),
               Error);
  EXPECT_THROW(gemm<double>(false, false, -1, 4, 4, 1.0, nullptr, 4, nullptr, 4, 0.0, nullptr, 4),
               Error);
  EXPECT_THROW(gemm<float>(false, false, 4, 4, 4, 1.0f, nullptr, 4, B.data(), 4, 0.0f, C.data(), 4),
               Error);
  try {
    gemm<float>(false, false, 4, 4, 4, 1.0f, A.data(), 3, B.data(), 4, 0.0f, C.data(), 4);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lda=3"), std::string::npos) << e.what();
  }
}

TEST(Gemm, ThreadsAndLibraryName) {
  EXPECT_THROW(set_gemm_threads(-1), Error);
  // 0 unsets: the thread's OpenMP setting again. The previous setting comes back.
  set_gemm_threads(3);
  EXPECT_EQ(set_gemm_threads(0), 3);
  EXPECT_EQ(gemm_threads(), std::max(1, omp_get_max_threads()));
  // Per thread: another thread's setting is its own (two models on two threads keep theirs).
  set_gemm_threads(1);
  int other = 0;
  std::thread t([&] {
    set_gemm_threads(4);
    other = gemm_threads();
  });
  t.join();
  EXPECT_EQ(other, 4);
  EXPECT_EQ(gemm_threads(), 1);
  EXPECT_EQ(gemm_threads(), 1);
  EXPECT_NE(gemm_library().find("1 thread"), std::string::npos) << gemm_library();
  set_gemm_threads(2);
  EXPECT_EQ(gemm_threads(), 2);
  const std::string name = gemm_library();
  EXPECT_FALSE(name.empty());
  EXPECT_NE(name.find("2 threads"), std::string::npos) << name;
  std::printf("gemm_library(): %s\n", name.c_str());
}

}  // namespace
}  // namespace ae::cpu
