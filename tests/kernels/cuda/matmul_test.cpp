// ae::cuda::matmul on cuda-sim against ae::cpu::matmul: all four transpose combinations, overwrite
// and accumulate, tile-edge and prime shapes (the shared GEMM tile is 64×64 with K-steps of 16), an
// exact mode on small integers (bit-equal for every combination), K = 0, and the argument checks.
#include "kernels/cuda/matmul.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/matmul.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct MatmulCase {
  bool trans_a, trans_b;
  int64_t M, N, K;
  bool accumulate = false;
  bool exact = false;  // small-integer inputs: every partial sum exact in fp32, results bit-equal
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << "matmul(ta=" << trans_a << ",tb=" << trans_b << ",M=" << M << ",N=" << N << ",K=" << K
       << ",acc=" << accumulate << (exact ? ",exact" : "") << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return 2.0 * M * N * K; }
  double bytes() const { return 4.0 * (M * K + K * N + M * N * (accumulate ? 2 : 1)); }
};

struct MatmulInputs {
  std::vector<float> a, b, c0;  // c0: C's contents before an accumulating call
  explicit MatmulInputs(const MatmulCase& c) {
    if (c.exact) {
      a = small_ints(c.M * c.K, -3, 3, c.seed, 1);
      b = small_ints(c.K * c.N, -3, 3, c.seed, 2);
      c0 = small_ints(c.M * c.N, -8, 8, c.seed, 3);
      // No zero factors: a 1-long reduction of a zero would make the reference vacuous.
      for (auto* v : {&a, &b})
        for (float& e : *v) e = e == 0.0f ? 1.0f : e;
    } else {
      a = uniform(c.M * c.K, -1, 1, c.seed, 1);
      b = uniform(c.K * c.N, -1, 1, c.seed, 2);
      c0 = uniform(c.M * c.N, -1, 1, c.seed, 3);
    }
  }
};

std::vector<float> run_cuda(const MatmulCase& c, const MatmulInputs& in) {
  DeviceBuffer<float> a(in.a), b(in.b), out(c.M * c.N);  // NaN prefill: an unwritten element fails
  if (c.accumulate) out.upload(in.c0);
  ae::cuda::matmul<float>(c.trans_a, c.trans_b, c.M, c.N, c.K, a.get(), b.get(), out.get(), c.accumulate, nullptr);
  expect_guards(c.params(), a, b, out);
  return out.download();
}

class Matmul : public DeviceTestWithParam<MatmulCase> {};

TEST_P(Matmul, MatchesCpuReference) {
  const MatmulCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const MatmulInputs in(c);
  std::vector<float> ref = c.accumulate ? in.c0 : std::vector<float>(c.M * c.N);
  cpu::matmul<float>(c.trans_a, c.trans_b, c.M, c.N, c.K, in.a.data(), in.b.data(), ref.data(), c.accumulate);
  const std::vector<float> got = run_cuda(c, in);

  FailureDump dump(c.params());
  dump.add("a", in.a), dump.add("b", in.b), dump.add("c0", in.c0), dump.add("c_ref", ref), dump.add("c", got);
  // Not vacuous: the product itself is non-zero (c0 + product may cancel in a 1×1 case).
  std::vector<float> product(c.M * c.N);
  cpu::matmul<float>(c.trans_a, c.trans_b, c.M, c.N, c.K, in.a.data(), in.b.data(), product.data(), false);
  ASSERT_TRUE(nonzero(c.K > 0 ? "op(A)·op(B)" : "c_ref", c.K > 0 ? product : ref));
  const double scale = max_abs(in.a) * max_abs(in.b);
  EXPECT_TRUE(compare("c", got, ref, c.exact ? exact_tolerance() : tolerance<float>(), c.K, scale));
}

std::vector<MatmulCase> matmul_cases() {
  std::vector<MatmulCase> v;
  uint64_t seed = 1;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    // Exact mode over the tile edges, every transpose combination, accumulate on odd seeds.
    for (int64_t M : {1, 63, 65, 129})
      for (int64_t N : {1, 64, 65})
        for (int64_t K : {1, 17, 37}) {
          v.push_back({ta, tb, M, N, K, seed % 2 == 1, true, seed});
          ++seed;
        }
    // Random floats on prime-ish shapes, both epilogue modes.
    v.push_back({ta, tb, 37, 129, 65, false, false, seed++});
    v.push_back({ta, tb, 37, 129, 65, true, false, seed++});
    v.push_back({ta, tb, 64, 63, 16, false, false, seed++});
    v.push_back({ta, tb, 5, 3, 0, true, false, seed++});  // K = 0: C unchanged
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Matmul, ::testing::ValuesIn(matmul_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class MatmulEdge : public DeviceTest {};

TEST_F(MatmulEdge, EmptyReductionWritesZeros) {
  for (int t = 0; t < 4; ++t) {
    DeviceBuffer<float> c(15);
    ae::cuda::matmul<float>(t & 1, t & 2, 5, 3, 0, nullptr, nullptr, c.get(), false, nullptr);
    for (float e : c.download()) EXPECT_EQ(e, 0.0f);
    expect_guards("matmul K=0", c);
  }
}

TEST_F(MatmulEdge, EmptyOutputWritesNothing) {
  DeviceBuffer<float> a(4), b(4), c(4);
  ae::cuda::matmul<float>(false, true, 0, 2, 2, a.get(), b.get(), c.get(), false, nullptr);
  for (float e : c.download()) EXPECT_TRUE(std::isnan(e));  // untouched prefill
}

TEST_F(MatmulEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> a(4), b(4), c(4);
  EXPECT_THROW(ae::cuda::matmul<float>(false, false, -1, 2, 2, a.get(), b.get(), c.get(), false, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::matmul<float>(false, false, 2, 2, 2, a.get(), b.get(), nullptr, false, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::matmul<float>(false, false, 2, 2, 2, nullptr, b.get(), c.get(), false, nullptr), ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
