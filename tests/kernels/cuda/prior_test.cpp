// An adversarial autoencoder's prior samples on cuda-sim against the cpu reference:
// ae::cuda::prior_sample against ae::cpu::prior_sample for both priors on odd sizes (and past one
// grid-stride lap) and several (seed, step) keys, bit for bit (the gaussian's double log/cos may
// differ in the last place on a GPU, where same-math tolerances apply). The draws are what their
// prior promises (moments, range), seed and step each change them, and bad arguments are errors.
// Every buffer is named for the sim's memcheck.
#include "kernels/cuda/prior.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/prior.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

const char* prior_text(PriorKind k) { return k == PriorKind::uniform ? "uniform" : "gaussian"; }

// The device block of one step's scalars, named for memcheck.
struct DeviceSteps {
  DeviceBuffer<StepScalars> buf;
  DeviceSteps(uint64_t seed, int64_t step) : buf(std::vector<StepScalars>{make(seed, step)}) { name_for_memcheck(buf, "steps"); }
  static StepScalars make(uint64_t seed, int64_t step) {
    StepScalars s{};
    s.step = step;
    s.seed = seed;
    s.loss_scale = 1;
    return s;
  }
  const StepScalars* get() const { return buf.get(); }
};

size_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = a.size() == b.size() ? 0 : std::max(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

// The uniform is exact in float on any device; the gaussian goes through libm in double.
Tolerance prior_tolerance(PriorKind k) { return k == PriorKind::gaussian ? same_math_tolerance<float>() : exact_tolerance(); }

struct PriorCase {
  PriorKind kind;
  int64_t n;
  uint64_t seed;
  int64_t step;

  std::string params() const {
    std::ostringstream os;
    os << "prior_sample(prior=" << prior_text(kind) << ",n=" << n << ",seed=" << seed << ",step=" << step << ")";
    return os.str();
  }
  double flops() const { return 0; }  // integer Philox rounds
  double bytes() const { return 4.0 * n; }
};
void PrintTo(const PriorCase& c, std::ostream* os) { *os << c.params(); }

// No vacuous pass: the sample has its prior's moments (5 standard errors) and range.
void expect_plausible(const PriorCase& c, const std::vector<float>& y) {
  double sum = 0, sum2 = 0;
  float lo = INFINITY, hi = -INFINITY;
  for (float v : y) sum += v, sum2 += double(v) * v, lo = std::min(lo, v), hi = std::max(hi, v);
  const double n = double(c.n), mean = sum / n, var = sum2 / n - mean * mean;
  const double want_var = c.kind == PriorKind::uniform ? 1.0 / 3.0 : 1.0;
  const double var_of_var = c.kind == PriorKind::uniform ? 4.0 / 45.0 : 2.0;  // μ4 − σ⁴: the sample variance's spread × n
  if (c.kind == PriorKind::uniform) {
    EXPECT_GE(lo, -1.0f);
    EXPECT_LT(hi, 1.0f);
  }
  if (c.n < 1000) return;
  EXPECT_LE(std::fabs(mean), 5 * std::sqrt(want_var / n)) << "sample mean";
  EXPECT_LE(std::fabs(var - want_var), 5 * std::sqrt(var_of_var / n)) << "sample variance";
}

class Prior : public DeviceTestWithParam<PriorCase> {};

TEST_P(Prior, MatchesCpuReference) {
  const PriorCase& c = GetParam();
  SCOPED_TRACE(c.params());
  std::vector<float> ref(size_t(c.n));
  cpu::prior_sample(c.kind, c.seed, uint64_t(c.step), ref.data(), c.n);
  const DeviceSteps steps(c.seed, c.step);
  DeviceBuffer<float> y(size_t(c.n));  // NaN-prefilled: an unwritten element fails
  name_for_memcheck(y, "y");
  ae::cuda::prior_sample(c.kind, steps.get(), y.get(), c.n, nullptr);
  const std::vector<float> got = y.download();
  expect_guards(c.params(), y, steps.buf);

  FailureDump dump(c.params());
  dump.add("y_ref", ref), dump.add("y", got);
  ASSERT_TRUE(nonzero("y_ref", ref));
  EXPECT_TRUE(compare("y", got, ref, prior_tolerance(c.kind), 1, 1.0));
#if AE_CUDATEST_SIM
  EXPECT_TRUE(bitwise_equal("y (cuda-sim: the same libm)", got, ref));
#endif
  expect_plausible(c, got);
}

std::vector<PriorCase> prior_cases() {
  const std::pair<uint64_t, int64_t> keys[] = {{7, 1}, {0x5eed0000abcd1234ull, (int64_t(1) << 40) + 3}};
  std::vector<PriorCase> v;
  for (PriorKind k : {PriorKind::gaussian, PriorKind::uniform})
    for (const auto& [seed, step] : keys)
      for (int64_t n : {1, 16, 255, 257, 1009, 4099}) v.push_back({k, n, seed, step});
  v.push_back({PriorKind::uniform, 4096 * 256 + 37, 11, 2});  // past one grid-stride lap of the capped grid
  v.push_back({PriorKind::gaussian, 4096 * 256 + 37, 12, 3});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Prior, ::testing::ValuesIn(prior_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class PriorKey : public DeviceTest {};

// The device reads seed and step from the block; both change the draw, and the two priors and
// `ae sample`'s step 0 are streams of their own.
TEST_F(PriorKey, StepAndSeedEachChangeTheDraw) {
  const int64_t n = 1009;
  DeviceBuffer<float> y(n);
  auto run = [&](PriorKind k, uint64_t seed, int64_t step) {
    const DeviceSteps steps(seed, step);
    y.fill_nan();
    ae::cuda::prior_sample(k, steps.get(), y.get(), n, nullptr);
    return y.download();
  };
  const std::vector<float> base = run(PriorKind::gaussian, 5, 10);
  EXPECT_TRUE(bitwise_equal("the same key twice", run(PriorKind::gaussian, 5, 10), base));
  EXPECT_EQ(bit_mismatches(run(PriorKind::gaussian, 5, 11), base), size_t(n)) << "the next step must draw afresh";
  EXPECT_EQ(bit_mismatches(run(PriorKind::gaussian, 6, 10), base), size_t(n)) << "another seed must draw afresh";
  EXPECT_EQ(bit_mismatches(run(PriorKind::uniform, 5, 10), base), size_t(n));
  // Element i is ae::prior_sample(kind, seed, step, i): the row-major offset in the [B, N] sample.
  const std::vector<float> u = run(PriorKind::uniform, 9, 4);
  for (int64_t i : {int64_t(0), int64_t(1), n - 1}) EXPECT_EQ(u[size_t(i)], ae::prior_sample(PriorKind::uniform, 9, 4, uint64_t(i)));
  EXPECT_EQ(u[3], 2.0f * philox_uniform(9, 4, PhiloxPurpose::prior, 3) - 1.0f);
}

TEST_F(PriorKey, BadArgumentsAreErrors) {
  DeviceBuffer<float> y(4);
  const DeviceSteps steps(1, 1);
  EXPECT_THROW(ae::cuda::prior_sample(PriorKind::gaussian, steps.get(), y.get(), -1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::prior_sample(PriorKind::gaussian, nullptr, y.get(), 4, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::prior_sample(PriorKind::gaussian, steps.get(), nullptr, 4, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::prior_sample(static_cast<PriorKind>(7), steps.get(), y.get(), 4, nullptr), ae::Error);
  std::vector<float> h(4);
  EXPECT_THROW(cpu::prior_sample(static_cast<PriorKind>(7), 1, 1, h.data(), 4), ae::Error);
  EXPECT_NO_THROW(ae::cuda::prior_sample(PriorKind::uniform, steps.get(), nullptr, 0, nullptr));  // n = 0: nothing
}

}  // namespace
}  // namespace ae::cudatest
