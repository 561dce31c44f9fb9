// ae::cuda::amp_unscale and amp_update on cuda-sim against the cpu reference (kernels/cpu/amp.h) and
// the shared rule (kernels/common/amp.h): unscaling over a slot table whose tensors straddle the
// 1024-element block chunks, with inf, -inf or NaN planted at the first, a middle or the last element
// of the last tensor (found_inf set, every other element still unscaled), clean gradients (exactly
// g/scale, found_inf left as it was), and the scale update on the device against the host over long
// random sequences of overflow flags. optimizer_test.cpp checks the step's skip on found_inf.
#include "kernels/cuda/amp.cuh"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "kernels/cpu/amp.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

// The last tensor is odd-sized and starts in one block and ends in the next, so its first and last
// elements are handled by different blocks (chunks of 1024; total 6086).
const std::vector<int64_t> SIZES = {1, 1023, 0, 1025, 3001, 7, 1029};

enum class Plant : uint8_t { none, first, middle, last };

struct UnscaleCase {
  Plant where = Plant::none;
  float bad = INFINITY;  // the planted value
  float scale = AMP_INIT_SCALE;
  int32_t found_inf_before = 0;
  uint64_t seed = 1;
  std::string params() const {
    static const char* const names[] = {"none", "first", "middle", "last"};
    std::ostringstream os;
    os << "amp_unscale(plant=" << names[int(where)];
    if (where != Plant::none) os << ",value=" << (std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "minus_inf");
    os << ",scale=" << scale << ",found_inf=" << found_inf_before << ",seed=" << seed << ")";
    return os.str();
  }
};

class AmpUnscale : public DeviceTestWithParam<UnscaleCase> {};
class AmpDevice : public DeviceTest {};

TEST_P(AmpUnscale, MatchesCpuReference) {
  const UnscaleCase& c = GetParam();
  SCOPED_TRACE(c.params());
  // Loss-scaled gradients: values of the unscaled size times the scale.
  std::vector<std::vector<float>> grad;
  for (size_t t = 0; t < SIZES.size(); ++t) {
    grad.push_back(uniform(SIZES[t], -1, 1, c.seed, 10 + t));
    for (float& g : grad.back()) g *= c.scale;
  }
  const int64_t last = SIZES.back();
  if (c.where != Plant::none)
    grad.back()[c.where == Plant::first ? 0 : c.where == Plant::middle ? last / 2 : last - 1] = c.bad;

  AmpState ref_state{c.scale, 17, c.found_inf_before, 3};
  std::vector<std::vector<float>> ref = grad;
  for (auto& g : ref) cpu::amp_unscale(ref_state, g.data(), int64_t(g.size()));

  std::vector<std::unique_ptr<DeviceBuffer<float>>> dparam, dgrad;
  std::vector<ae::cuda::OptSlot> slots;
  for (size_t t = 0; t < SIZES.size(); ++t) {
    dparam.push_back(std::make_unique<DeviceBuffer<float>>(SIZES[t]));  // NaN: the unscale must not touch it
    dgrad.push_back(std::make_unique<DeviceBuffer<float>>(grad[t]));
    slots.push_back({dparam[t]->get(), dgrad[t]->get(), nullptr, SIZES[t], 0});
  }
  const int64_t total = ae::cuda::opt_slots_finalize(cpu::default_opt_config(cpu::OptKind::sgd), slots);
  DeviceBuffer<ae::cuda::OptSlot> table(slots);
  DeviceBuffer<AmpState> state(std::vector<AmpState>{{c.scale, 17, c.found_inf_before, 3}});
  ae::cuda::amp_unscale(state.get(), table.get(), int(slots.size()), total, nullptr);

  std::vector<float> got, want;
  for (size_t t = 0; t < SIZES.size(); ++t) {
    const auto g = dgrad[t]->download();
    got.insert(got.end(), g.begin(), g.end());
    want.insert(want.end(), ref[t].begin(), ref[t].end());
  }
  FailureDump dump(c.params());
  dump.add("grad_ref", want), dump.add("grad", got);
  ASSERT_TRUE(nonzero("unscaled gradients", want));
  EXPECT_TRUE(compare("unscaled gradients", got, want, exact_tolerance(), 1, 1.0));
  // The reference itself: clean elements are the exact quotients, the planted one stays non-finite.
  for (size_t t = 0, e = 0; t < SIZES.size(); ++t)
    for (int64_t i = 0; i < SIZES[t]; ++i, ++e)
      if (std::isfinite(grad[t][size_t(i)])) {
        ASSERT_EQ(double(want[e]), double(grad[t][size_t(i)]) / c.scale) << "element " << e;
      }
  const AmpState s = state.download()[0];
  EXPECT_EQ(s.found_inf, c.where != Plant::none || c.found_inf_before ? 1 : 0);
  EXPECT_EQ(s.found_inf, ref_state.found_inf);
  EXPECT_EQ(s.scale, c.scale);
  EXPECT_EQ(s.growth, 17);
  EXPECT_EQ(s.skipped, 3);
  for (size_t t = 0; t < SIZES.size(); ++t) {
    expect_guards(c.params(), *dparam[t], *dgrad[t]);
    for (float p : dparam[t]->download()) ASSERT_TRUE(std::isnan(p)) << "amp_unscale wrote a parameter";
  }
}

std::vector<UnscaleCase> unscale_cases() {
  std::vector<UnscaleCase> v;
  uint64_t seed = 1;
  for (Plant where : {Plant::first, Plant::middle, Plant::last})
    for (float bad : {INFINITY, -INFINITY, NAN}) v.push_back({where, bad, AMP_INIT_SCALE, 0, seed++});
  v.push_back({Plant::none, 0, AMP_INIT_SCALE, 0, seed++});  // clean: found_inf stays 0
  v.push_back({Plant::none, 0, 0x1p-3f, 0, seed++});         // a backed-off scale below 1
  v.push_back({Plant::none, 0, AMP_INIT_SCALE, 1, seed++});  // an earlier group's overflow stays noted
  v.push_back({Plant::middle, NAN, 0x1p40f, 0, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, AmpUnscale, ::testing::ValuesIn(unscale_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// A finite scaled gradient that the division itself overflows (scale backed off to 2^-4, so
// inv = 16): found_inf is set although no input was inf or NaN, as the reference sets it.
TEST_F(AmpDevice, UnscaleFindsAQuotientThatOverflows) {
  std::vector<float> g = uniform(2000, -1, 1, 7, 1);
  g[1500] = 3e38f;
  DeviceBuffer<float> dp(g.size()), dg(g);
  std::vector<ae::cuda::OptSlot> slots = {{dp.get(), dg.get(), nullptr, int64_t(g.size()), 0}};
  const int64_t total = ae::cuda::opt_slots_finalize(cpu::default_opt_config(cpu::OptKind::sgd), slots);
  DeviceBuffer<ae::cuda::OptSlot> table(slots);
  DeviceBuffer<AmpState> state(std::vector<AmpState>{{0x1p-4f, 0, 0, 0}});
  ae::cuda::amp_unscale(state.get(), table.get(), 1, total, nullptr);
  AmpState ref{0x1p-4f, 0, 0, 0};
  cpu::amp_unscale(ref, g.data(), int64_t(g.size()));
  EXPECT_EQ(ref.found_inf, 1);
  EXPECT_EQ(state.download()[0].found_inf, 1);
  EXPECT_TRUE(compare("unscaled gradients", dg.download(), g, exact_tolerance(), 1, 1.0));
  expect_guards("amp_unscale", dp, dg, state);
}

// amp_update on the device, one launch per step, against amp_update_rule on the host over a random
// sequence of overflow flags: the whole state equal after every step. Sparse flags let the
// 2000-step growth happen, bursts make the scale back off repeatedly; from 2^127 the growth is capped.
TEST_F(AmpDevice, UpdateOnDeviceMatchesHostRule) {
  for (const AmpState start : {amp_initial_state(), AmpState{0x1p127f, 1990, 0, 0}}) {
    std::mt19937_64 rng(0xa3b1 + uint64_t(start.growth));
    std::bernoulli_distribution sparse(0.0004), burst(0.6);
    AmpState host = start;
    DeviceBuffer<AmpState> dev(std::vector<AmpState>{start});
    int grew = 0, backed_off = 0, capped = 0;
    for (int k = 0; k < 10000; ++k) {
      const int32_t flag = (k >= 6000 && k < 6020) ? burst(rng) : sparse(rng);
      host.found_inf = flag;
      AE_CUDA_CHECK(cudaMemcpy(&dev.get()->found_inf, &flag, sizeof flag, cudaMemcpyHostToDevice));
      const float before = host.scale;
      amp_update_rule(host);
      ae::cuda::amp_update(dev.get(), nullptr);
      const AmpState d = dev.download()[0];
      ASSERT_TRUE(d.scale == host.scale && d.growth == host.growth && d.found_inf == host.found_inf &&
                  d.skipped == host.skipped)
          << "update " << k << " (found_inf " << flag << "): device {" << d.scale << ", " << d.growth << ", "
          << d.found_inf << ", " << d.skipped << "}, host {" << host.scale << ", " << host.growth << ", "
          << host.found_inf << ", " << host.skipped << "}";
      grew += host.scale > before, backed_off += host.scale < before;
      capped += !flag && host.growth == 0 && host.scale == before;
    }
    // Not vacuous: the sequence took every branch of the rule.
    EXPECT_GT(backed_off, 1);
    if (start.scale == AMP_INIT_SCALE)
      EXPECT_GT(grew, 0);
    else
      EXPECT_GT(capped, 0);
    expect_guards("amp_update", dev);
  }
}

TEST(AmpEdge, NullStateIsAnError) {
  EXPECT_THROW(ae::cuda::amp_update(nullptr, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::amp_unscale(nullptr, nullptr, 1, 1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::amp_unscale(nullptr, nullptr, -1, 1, nullptr), ae::Error);
  EXPECT_NO_THROW(ae::cuda::amp_unscale(nullptr, nullptr, 0, 0, nullptr));  // nothing to unscale: no launch
}

}  // namespace
}  // namespace ae::cudatest
