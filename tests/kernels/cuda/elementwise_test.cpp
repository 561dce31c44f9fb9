// The small kernels on cuda-sim against plain host loops (their reference is the definition):
// fill, copy, add (also in place) and gather_rows, at sizes around the 256-thread block and past
// the grid-stride cap, plus gather's refusal of an out-of-range index; fill_ramped's seed with and
// without fp16 loss scaling, the step and the scale read on the device.
#include "kernels/cuda/elementwise.cuh"

#include <gtest/gtest.h>

#include <numeric>
#include <sstream>

#include "kernels/common/elementwise.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct ElementwiseCase {
  int64_t n;
  uint64_t seed = 1;
  std::string params() const {
    std::ostringstream os;
    os << "elementwise(n=" << n << ",seed=" << seed << ")";
    return os.str();
  }
};

class Elementwise : public DeviceTestWithParam<ElementwiseCase> {};

TEST_P(Elementwise, FillCopyAdd) {
  const ElementwiseCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const auto a = uniform(c.n, -1, 1, c.seed, 1), b = uniform(c.n, -1, 1, c.seed, 2);
  std::vector<float> sum(c.n), filled(c.n, 0.625f);
  for (int64_t i = 0; i < c.n; ++i) sum[i] = a[i] + b[i];
  DeviceBuffer<float> da(a), db(b), y(c.n), f(c.n);
  const Tolerance tol = same_math_tolerance<float>();

  ae::cuda::fill<float>(f.get(), 0.625f, c.n, nullptr);
  EXPECT_TRUE(compare("fill", f.download(), filled, tol, 1, 1.0));
  ae::cuda::copy<float>(da.get(), y.get(), c.n, nullptr);
  EXPECT_TRUE(compare("copy", y.download(), a, tol, 1, 1.0));
  y.fill_nan();
  ae::cuda::add<float>(da.get(), db.get(), y.get(), c.n, nullptr);
  EXPECT_TRUE(compare("add", y.download(), sum, tol, 1, 1.0));
  ae::cuda::add<float>(da.get(), db.get(), da.get(), c.n, nullptr);  // y aliasing a
  EXPECT_TRUE(compare("add in place", da.download(), sum, tol, 1, 1.0));
  expect_guards(c.params(), da, db, y, f);
}

// The seed of a warmed-up term (ramp_weight rounded to float), then times the loss scale when an
// AmpState is given: both read from device memory when the kernel runs, so the same launch
// arguments give the next step's seed after the host (or amp_update) rewrites them.
TEST_P(Elementwise, FillRampedScalesTheSeedByTheAmpScale) {
  const ElementwiseCase& c = GetParam();
  SCOPED_TRACE(c.params());
  constexpr double WEIGHT = 2.7;
  constexpr int64_t RAMP = 4;
  DeviceBuffer<float> y(c.n);
  DeviceBuffer<StepScalars> steps(1);
  DeviceBuffer<AmpState> amp(1);
  const Tolerance exact = exact_tolerance();
  for (int64_t step : {int64_t(3), int64_t(9)}) {
    StepScalars block{};
    block.step = step;
    steps.upload({block});
    const float seed = float(ramp_weight(WEIGHT, step, RAMP));  // float(1.35) at step 3, float(2.7) past the ramp
    y.fill_nan();
    ae::cuda::fill_ramped<float>(y.get(), WEIGHT, RAMP, steps.get(), c.n, nullptr);
    EXPECT_TRUE(compare("fill_ramped", y.download(), std::vector<float>(c.n, seed), exact, 1, 1.0));
    for (float scale : {AMP_INIT_SCALE, 0x1p-3f, 0x1p127f}) {
      amp.upload({AmpState{scale, 0, 0, 0}});
      y.fill_nan();
      ae::cuda::fill_ramped<float>(y.get(), WEIGHT, RAMP, steps.get(), c.n, nullptr, amp.get());
      // 2^127 · 2.7 overflows: the inf that amp_unscale will find.
      const float want = seed * scale;
      EXPECT_EQ(std::isinf(want), scale == 0x1p127f && step == 9);
      EXPECT_TRUE(compare("fill_ramped scaled by " + std::to_string(scale), y.download(), std::vector<float>(c.n, want),
                          exact, 1, 1.0));
    }
  }
  expect_guards(c.params(), y, steps, amp);
}

INSTANTIATE_TEST_SUITE_P(Cases, Elementwise,
                         ::testing::Values(ElementwiseCase{1, 1}, ElementwiseCase{255, 2}, ElementwiseCase{256, 3},
                                           ElementwiseCase{257, 4}, ElementwiseCase{100003, 5},
                                           // past 4096 blocks of 256: the grid-stride loop's second lap
                                           ElementwiseCase{4096 * 256 + 333, 6}),
                         [](const auto& info) { return test_name(info.param.params()); });

struct GatherCase {
  int64_t src_rows, M, F;
  uint64_t seed = 1;
  std::string params() const {
    std::ostringstream os;
    os << "gather_rows(src_rows=" << src_rows << ",M=" << M << ",F=" << F << ",seed=" << seed << ")";
    return os.str();
  }
};

class GatherRows : public DeviceTestWithParam<GatherCase> {};

TEST_P(GatherRows, MatchesIndexedCopy) {
  const GatherCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const auto src = uniform(c.src_rows * c.F, -1, 1, c.seed, 1);
  // A shuffled minibatch: the first M entries of a seeded permutation of the rows.
  std::vector<int64_t> perm(c.src_rows);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(c.seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int64_t> index(perm.begin(), perm.begin() + c.M);
  std::vector<float> ref(c.M * c.F);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t f = 0; f < c.F; ++f) ref[i * c.F + f] = src[index[i] * c.F + f];
  DeviceBuffer<float> dsrc(src), out(c.M * c.F);
  DeviceBuffer<int64_t> didx(index);
  ae::cuda::gather_rows<float>(dsrc.get(), c.src_rows, didx.get(), c.M, c.F, out.get(), nullptr);
  FailureDump dump(c.params());
  dump.add("ref", ref);
  ASSERT_TRUE(nonzero("ref", ref));
  EXPECT_TRUE(compare("gather_rows", out.download(), ref, same_math_tolerance<float>(), 1, 1.0));
  expect_guards(c.params(), dsrc, out, didx);
}

INSTANTIATE_TEST_SUITE_P(Cases, GatherRows,
                         ::testing::Values(GatherCase{1, 1, 1, 1}, GatherCase{100, 37, 255, 2},
                                           GatherCase{300, 256, 784, 3}, GatherCase{70000, 65536 + 7, 2, 4}),
                         [](const auto& info) { return test_name(info.param.params()); });

#if AE_CUDATEST_SIM
// cuda-sim only: on a GPU the kernel's __trap() surfaces asynchronously (not at the launch check) and
// leaves the context unusable for every later test of the process.
TEST(GatherRowsEdge, OutOfRangeIndexFailsTheLaunch) {
  DeviceBuffer<float> src(std::vector<float>(12, 1.0f)), out(8);
  DeviceBuffer<int64_t> idx(std::vector<int64_t>{0, 3});  // src has rows 0..2
  try {
    ae::cuda::gather_rows<float>(src.get(), 3, idx.get(), 2, 4, out.get(), nullptr);
    ADD_FAILURE() << "an out-of-range row index was accepted";
  } catch (const ae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gather_rows"), std::string::npos) << e.what();
  }
  cudaGetLastError();  // the sim's failed launch is reported; clear it for the next test
}
#endif

}  // namespace
}  // namespace ae::cudatest
