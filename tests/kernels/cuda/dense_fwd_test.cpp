// ae::cuda::dense_forward on cuda-sim against ae::cpu::dense_forward: every activation, tile-edge
// and prime shapes (the tile is 64×64 with K-steps of 16), an exact mode on small integers, and one
// realistic layer. Each case is one registry line.
#include "kernels/cuda/dense_fwd.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/dense.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct DenseFwdCase {
  Act act;
  int64_t M, N, K;
  bool bias = true, keep_z = true;
  bool exact = false;  // small-integer inputs, bit-equal results (z always; y for piecewise-linear acts)
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << "dense_fwd(act=" << act_name(act) << ",M=" << M << ",N=" << N << ",K=" << K << ",bias=" << bias
       << ",z=" << keep_z << (exact ? ",exact" : "") << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return 2.0 * M * N * K; }
  double bytes() const { return 4.0 * (M * K + N * K + N + M * N * (keep_z ? 2 : 1)); }
};

struct DenseFwdOut {
  std::vector<float> y, z;
};

struct DenseFwdInputs {
  std::vector<float> x, w, b;
  explicit DenseFwdInputs(const DenseFwdCase& c) {
    if (c.exact) {
      x = small_ints(c.M * c.K, -3, 3, c.seed, 1);
      w = small_ints(c.N * c.K, -3, 3, c.seed, 2);
      b = small_ints(c.N, -8, 8, c.seed, 3);
    } else {
      x = uniform(c.M * c.K, -1, 1, c.seed, 1);
      w = uniform(c.N * c.K, -1, 1, c.seed, 2);
      b = uniform(c.N, -0.5f, 0.5f, c.seed, 3);
    }
  }
};

DenseFwdOut run_cuda(const DenseFwdCase& c, const DenseFwdInputs& in) {
  DeviceBuffer<float> x(in.x), w(in.w), b(in.b), y(c.M * c.N), z(c.M * c.N);
  ae::cuda::dense_forward<float>(x.get(), w.get(), c.bias ? b.get() : nullptr, c.act, c.M, c.N, c.K, y.get(),
                                 c.keep_z ? z.get() : nullptr, nullptr);
  expect_guards(c.params(), x, w, b, y, z);
  return {y.download(), c.keep_z ? z.download() : std::vector<float>{}};
}

bool piecewise_linear(Act a) {
  return a == Act::linear || a == Act::relu || a == Act::leaky_relu;
}

class DenseFwd : public DeviceTestWithParam<DenseFwdCase> {};

TEST_P(DenseFwd, MatchesCpuReference) {
  const DenseFwdCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const DenseFwdInputs in(c);
  std::vector<float> y_ref(c.M * c.N), z_ref(c.M * c.N);
  const float none = 0;  // the reference wants non-null x and w even when K = 0
  cpu::dense_forward<float>(in.x.empty() ? &none : in.x.data(), in.w.empty() ? &none : in.w.data(),
                            c.bias ? in.b.data() : nullptr, c.act, c.M, c.N, c.K, y_ref.data(), z_ref.data());
  const DenseFwdOut got = run_cuda(c, in);

  FailureDump dump(c.params());
  dump.add("x", in.x), dump.add("w", in.w), dump.add("b", in.b);
  dump.add("y_ref", y_ref), dump.add("y", got.y), dump.add("z_ref", z_ref), dump.add("z", got.z);
  ASSERT_TRUE(nonzero("z_ref", z_ref));
  const double scale = max_abs(in.x) * max_abs(in.w);
  const Tolerance y_tol = c.exact && piecewise_linear(c.act) ? exact_tolerance() : tolerance<float>();
  const Tolerance z_tol = c.exact ? exact_tolerance() : tolerance<float>();
  EXPECT_TRUE(compare("y", got.y, y_ref, y_tol, c.K, scale));
  if (c.keep_z) EXPECT_TRUE(compare("z", got.z, z_ref, z_tol, c.K, scale));
}

// Two runs under different sim schedules (thread orders between barriers) give the same bits.
class DenseFwdDeterminism : public DeviceTest {};
TEST_F(DenseFwdDeterminism, TwoSchedulesBitEqual) {
  for (const DenseFwdCase& c : {DenseFwdCase{Act::gelu, 65, 129, 67, true, true, false, 21},
                                DenseFwdCase{Act::tanh, 64, 17, 33, false, true, false, 22}}) {
    SCOPED_TRACE(c.params());
    const DenseFwdInputs in(c);
    DenseFwdOut a, b;
    with_sim_seed(101, [&] { a = run_cuda(c, in); });
    with_sim_seed(202, [&] { b = run_cuda(c, in); });
    ASSERT_TRUE(nonzero("y", a.y));
    EXPECT_TRUE(bitwise_equal("y", a.y, b.y));
    EXPECT_TRUE(bitwise_equal("z", a.z, b.z));
  }
}

std::vector<DenseFwdCase> dense_fwd_cases() {
  std::vector<DenseFwdCase> v;
  // Exact mode over tile edges: M, N around the 64-wide tile, K around the 16-deep step.
  uint64_t seed = 1;
  for (int64_t M : {1, 63, 64, 65, 129})
    for (int64_t N : {1, 17, 64, 65})
      for (int64_t K : {1, 16, 17, 67})
        v.push_back({(seed % 2) ? Act::relu : Act::linear, M, N, K, true, true, true, seed++});
  // Every activation, random floats, odd prime-ish shapes; with and without z and bias.
  for (int a = 0; a < ACT_COUNT; ++a) {
    const Act act = static_cast<Act>(a);
    v.push_back({act, 37, 129, 65, true, true, false, 3});
    v.push_back({act, 67, 61, 31, a % 2 == 0, false, false, 5});
    v.push_back({act, 13, 7, 97, true, true, true, 7});  // exact z, activations within tolerance
  }
  v.push_back({Act::relu, 5, 3, 0, true, true, false, 9});     // K = 0: y = act(b)
  v.push_back({Act::relu, 200, 31, 1, true, true, true, 10});  // K = 1
  // One realistic layer of 784-256r-32-256r-784s at batch 256: the decoder's output layer.
  v.push_back({Act::sigmoid, 256, 784, 256, true, false, false, 11});
  v.push_back({Act::relu, 256, 256, 784, true, true, true, 12});  // the first layer, exact
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, DenseFwd, ::testing::ValuesIn(dense_fwd_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class DenseFwdEdge : public DeviceTest {};
TEST_F(DenseFwdEdge, EmptyBatchWritesNothing) {
  DeviceBuffer<float> x(4), w(4), y(4);
  ae::cuda::dense_forward<float>(x.get(), w.get(), nullptr, Act::relu, 0, 1, 4, y.get(), nullptr, nullptr);
  for (float e : y.download()) EXPECT_TRUE(std::isnan(e));  // untouched prefill
}

TEST_F(DenseFwdEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> x(4), w(4), y(4);
  EXPECT_THROW(
      ae::cuda::dense_forward<float>(x.get(), w.get(), nullptr, Act::relu, -1, 1, 4, y.get(), nullptr, nullptr),
      ae::Error);
  EXPECT_THROW(ae::cuda::dense_forward<float>(x.get(), w.get(), nullptr, Act::relu, 1, 1, 4, nullptr, nullptr, nullptr),
               ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
