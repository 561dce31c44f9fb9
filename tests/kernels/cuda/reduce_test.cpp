// ae::cuda::reduce_sum on cuda-sim against ae::cpu::reduce_sum: every axis, overwrite and
// accumulate, alpha, shapes around the block sizes (1, 63, 64, 65, 129, primes, tall and wide),
// the per-sample axes (groups, samples, channels) with G rows per sample, G in {1, 3, 7, 32}, over
// 1 to 67 samples, empty inputs (sum 0), and bitwise reproducibility across two runs under
// different schedules. The cpu sums in double, the kernels in float: tolerance<float>() over the reduction length.
#include "kernels/cuda/reduce.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/reduce.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct ReduceCase {
  ReduceAxis axis;
  int64_t M, N;
  bool accumulate = false;
  float alpha = 1.0f;
  uint64_t seed = 1;
  int64_t G = 1;  // rows per sample (groups, samples): M = samples·G

  bool grouped() const {
    return axis == ReduceAxis::groups || axis == ReduceAxis::samples || axis == ReduceAxis::channels;
  }
  std::string params() const {
    std::ostringstream os;
    os << "reduce_sum(axis=" << reduce_axis_name(axis) << ",M=" << M << ",N=" << N;
    if (grouped()) os << ",G=" << G;
    os << ",acc=" << accumulate << ",alpha=" << alpha << ",seed=" << seed << ")";
    return os.str();
  }
  int64_t outputs() const { return reduce_outputs(axis, M, N, G); }
  // The number of terms in each sum.
  int64_t length() const {
    switch (axis) {
      case ReduceAxis::rows:
        return M;
      case ReduceAxis::cols:
        return N;
      case ReduceAxis::all:
        return M * N;
      case ReduceAxis::groups:
        return G;
      case ReduceAxis::samples:
        return M / G;
      case ReduceAxis::channels:
        return M / G * N;
    }
    return M * N;
  }
  double flops() const { return double(M) * N; }
  double bytes() const { return 4.0 * (M * N + outputs()); }
};

struct ReduceInputs {
  std::vector<float> x, y0;
  explicit ReduceInputs(const ReduceCase& c)
      : x(uniform(c.M * c.N, -1, 1, c.seed, 1)), y0(uniform(c.outputs(), -1, 1, c.seed, 2)) {}
};

std::vector<float> run_cuda(const ReduceCase& c, const ReduceInputs& in) {
  DeviceBuffer<float> x(in.x), y(c.outputs());
  if (c.accumulate) y.upload(in.y0);
  ae::cuda::reduce_sum<float>(c.axis, c.alpha, x.get(), y.get(), c.M, c.N, c.accumulate, nullptr, c.G);
  expect_guards(c.params(), x, y);
  return y.download();
}

class ReduceSum : public DeviceTestWithParam<ReduceCase> {};

TEST_P(ReduceSum, MatchesCpuReference) {
  const ReduceCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const ReduceInputs in(c);
  std::vector<float> ref = c.accumulate ? in.y0 : std::vector<float>(c.outputs());
  cpu::reduce_sum<float>(c.axis, c.alpha, in.x.data(), ref.data(), c.M, c.N, c.accumulate, c.G);
  const std::vector<float> got = run_cuda(c, in);

  FailureDump dump(c.params());
  dump.add("x", in.x), dump.add("y0", in.y0), dump.add("y_ref", ref), dump.add("y", got);
  ASSERT_TRUE(nonzero("y_ref", ref));
  const double scale = std::fabs(c.alpha) * max_abs(in.x);
  EXPECT_TRUE(compare("y", got, ref, tolerance<float>(), c.length(), scale));
}

std::vector<ReduceCase> reduce_cases() {
  struct Shape {
    int64_t M, N;
  };
  std::vector<ReduceCase> v;
  uint64_t seed = 1;
  for (int axis = 0; axis < REDUCE_AXIS_COUNT; ++axis)
    for (Shape s :
         {Shape{1, 1}, Shape{63, 65}, Shape{64, 37}, Shape{129, 1}, Shape{1, 129}, Shape{257, 31}, Shape{7, 1031}})
      for (bool acc : {false, true})
        v.push_back({static_cast<ReduceAxis>(axis), s.M, s.N, acc, acc ? -0.5f : 1.0f, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, ReduceSum, ::testing::ValuesIn(reduce_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// The adjoints of the per-sample broadcasts, as the contractive penalty's gradient uses them on its
// [B·G, N] Jacobian rows: each sample's G rows (groups) and each of the G rows over the samples
// (samples); and a convolution's per-channel bias gradient over [B·C, H·W] (channels, G = C). G = 1
// (groups is a copy, samples is rows, channels is all) to past a warp; one sample (samples is a
// copy); odd sample counts and N, N = 1; 67 samples of 32 rows (2144 × 65) for a long, strided sum.
std::vector<ReduceCase> grouped_reduce_cases() {
  struct Shape {
    int64_t samples, N;
  };
  std::vector<ReduceCase> v;
  uint64_t seed = 500;
  for (ReduceAxis axis : {ReduceAxis::groups, ReduceAxis::samples, ReduceAxis::channels})
    for (int64_t G : {1, 3, 7, 32})
      for (Shape s : {Shape{1, 1}, Shape{1, 65}, Shape{5, 37}, Shape{9, 129}, Shape{67, 65}, Shape{3, 1}})
        for (bool acc : {false, true}) v.push_back({axis, s.samples * G, s.N, acc, acc ? -0.5f : 1.0f, seed++, G});
  return v;
}

INSTANTIATE_TEST_SUITE_P(PerSample, ReduceSum, ::testing::ValuesIn(grouped_reduce_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// Two runs under different sim schedules (thread orders between barriers) give the same bits: no
// atomics, no schedule-dependent order in any sum.
class ReduceSumDeterminism : public DeviceTest {};
TEST_F(ReduceSumDeterminism, TwoSchedulesBitEqual) {
  for (int axis = 0; axis < REDUCE_AXIS_COUNT; ++axis) {
    const ReduceAxis ax = static_cast<ReduceAxis>(axis);
    const ReduceCase probe{ax, 0, 0};
    const int64_t G = probe.grouped() ? 3 : 1;  // 43 samples of 3 rows
    const ReduceCase c{ax, 129, 257, false, 1.0f, uint64_t(40 + axis), G};
    SCOPED_TRACE(c.params());
    const ReduceInputs in(c);
    std::vector<float> a, b;
    with_sim_seed(101, [&] { a = run_cuda(c, in); });
    with_sim_seed(202, [&] { b = run_cuda(c, in); });
    ASSERT_TRUE(nonzero("y", a));
    EXPECT_TRUE(bitwise_equal("y", a, b));
  }
}

class ReduceSumEdge : public DeviceTest {};
TEST_F(ReduceSumEdge, EmptyInputSumsToZero) {
  for (int axis = 0; axis < REDUCE_AXIS_COUNT; ++axis) {
    const ReduceAxis ax = static_cast<ReduceAxis>(axis);
    SCOPED_TRACE(reduce_axis_name(ax));
    // rows: M = 0 (N outputs); cols: N = 0 (M outputs); all, channels (G = 1): one output;
    // samples: M = 0 (G·N outputs, here 5); groups: M = 0 has no samples, so no outputs: y is left
    // as it was.
    const int64_t M = ax == ReduceAxis::cols ? 5 : 0, N = ax == ReduceAxis::cols ? 0 : 5;
    const int64_t outputs = reduce_outputs(ax, M, N);
    DeviceBuffer<float> x(0), y(5);
    ae::cuda::reduce_sum<float>(ax, 2.0f, x.get(), y.get(), M, N, false, nullptr);
    const std::vector<float> got = y.download();
    for (int64_t k = 0; k < 5; ++k) {
      if (k >= outputs)
        EXPECT_TRUE(std::isnan(got[k])) << k;  // not an output: still the NaN prefill
      else
        EXPECT_EQ(got[k], 0.0f) << k;
    }
    expect_guards("reduce_sum empty", x, y);
  }
}

TEST_F(ReduceSumEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> x(6), y(3);
  EXPECT_THROW(ae::cuda::reduce_sum<float>(ReduceAxis::rows, 1.0f, x.get(), y.get(), -1, 3, false, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::reduce_sum<float>(ReduceAxis::rows, 1.0f, nullptr, y.get(), 2, 3, false, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::reduce_sum<float>(ReduceAxis::all, 1.0f, x.get(), nullptr, 2, 3, false, nullptr), ae::Error);
  // Rows that are not whole samples, and G < 1.
  EXPECT_THROW(ae::cuda::reduce_sum<float>(ReduceAxis::groups, 1.0f, x.get(), y.get(), 3, 2, false, nullptr, 2),
               ae::Error);
  EXPECT_THROW(ae::cuda::reduce_sum<float>(ReduceAxis::samples, 1.0f, x.get(), y.get(), 2, 3, false, nullptr, 0),
               ae::Error);
  EXPECT_THROW(ae::cuda::reduce_sum<float>(ReduceAxis::channels, 1.0f, x.get(), y.get(), 3, 2, false, nullptr, 2),
               ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
