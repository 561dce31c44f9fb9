// ae::cuda::broadcast on cuda-sim against ae::cpu::broadcast: every layout, accumulate on and off,
// shapes around the 256-thread block and past one grid-stride lap; the per-sample layouts (sample,
// tile, channel) with G rows per sample, G in {1, 3, 7, 32}, over 1, 3, 5 and 9 samples. The same shared
// indexing and one multiply per element on both sides, so the results are bit-equal under cuda-sim.
#include "kernels/cuda/broadcast.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/broadcast.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct BroadcastCase {
  Broadcast bb;
  int64_t M, N;
  bool accumulate;
  uint64_t seed = 1;
  int64_t G = 1;  // rows per sample (sample, tile): M = samples·G

  std::string params() const {
    std::ostringstream os;
    os << "broadcast(bb=" << broadcast_name(bb) << ",M=" << M << ",N=" << N;
    if (bb == Broadcast::sample || bb == Broadcast::tile || bb == Broadcast::channel) os << ",G=" << G;
    os << ",acc=" << accumulate << ",seed=" << seed << ")";
    return os.str();
  }
};

class BroadcastKernel : public DeviceTestWithParam<BroadcastCase> {};

TEST_P(BroadcastKernel, MatchesCpuReference) {
  const BroadcastCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const std::vector<float> x = uniform(broadcast_size(c.bb, c.M, c.N, c.G), -2, 2, c.seed, 1);
  const std::vector<float> y0 = uniform(c.M * c.N, -1, 1, c.seed, 2);
  std::vector<float> ref(y0);
  cpu::broadcast<float>(c.bb, -0.5f, x.data(), ref.data(), c.M, c.N, c.accumulate, c.G);

  DeviceBuffer<float> dx(x), y(y0);
  ae::cuda::broadcast<float>(c.bb, -0.5f, dx.get(), y.get(), c.M, c.N, c.accumulate, nullptr, c.G);
  const std::vector<float> got = y.download();
  expect_guards(c.params(), dx, y);

  FailureDump dump(c.params());
  dump.add("x", x), dump.add("y_ref", ref), dump.add("y", got);
  ASSERT_TRUE(nonzero("y_ref", ref));
  EXPECT_TRUE(compare("y", got, ref, same_math_tolerance<float>(), 1, 1.0));
}

std::vector<BroadcastCase> broadcast_cases() {
  std::vector<BroadcastCase> v;
  uint64_t seed = 1;
  for (Broadcast bb : {Broadcast::none, Broadcast::row, Broadcast::col, Broadcast::scalar})
    for (auto [M, N] : {std::pair<int64_t, int64_t>{1, 1}, {1, 257}, {63, 65}, {37, 129}})
      for (bool acc : {false, true}) v.push_back({bb, M, N, acc, seed++});
  v.push_back({Broadcast::row, 4099, 257, true, seed++});  // the grid-stride loop's second lap
  // The contractive penalty's per-sample layouts and a convolution's per-channel bias (channel,
  // G = C over [B·C, H·W]): G = 1 (sample is none, tile is row, channel is scalar) to past a warp,
  // odd N and N = 1, one sample (tile's x as large as y).
  for (Broadcast bb : {Broadcast::sample, Broadcast::tile, Broadcast::channel})
    for (int64_t G : {1, 3, 7, 32})
      for (auto [samples, N] : {std::pair<int64_t, int64_t>{1, 1}, {1, 65}, {5, 37}, {9, 129}, {3, 1}})
        for (bool acc : {false, true}) v.push_back({bb, samples * G, N, acc, seed++, G});
  v.push_back({Broadcast::sample, 7 * 587, 257, false, seed++, 7});  // past one grid-stride lap
  v.push_back({Broadcast::tile, 7 * 587, 257, true, seed++, 7});
  v.push_back({Broadcast::channel, 7 * 587, 257, true, seed++, 7});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, BroadcastKernel, ::testing::ValuesIn(broadcast_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class BroadcastEdge : public DeviceTest {};
TEST_F(BroadcastEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> x(4);
  EXPECT_THROW(ae::cuda::broadcast<float>(Broadcast::row, 1.0f, x.get(), x.get(), -1, 2, false, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::broadcast<float>(Broadcast::row, 1.0f, nullptr, x.get(), 2, 2, false, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::broadcast<float>(static_cast<Broadcast>(BROADCAST_COUNT), 1.0f, x.get(), x.get(), 2, 2, false,
                                          nullptr),
               ae::Error);
  // Rows that are not whole samples, and G < 1.
  EXPECT_THROW(ae::cuda::broadcast<float>(Broadcast::sample, 1.0f, x.get(), x.get(), 3, 1, false, nullptr, 2),
               ae::Error);
  EXPECT_THROW(ae::cuda::broadcast<float>(Broadcast::tile, 1.0f, x.get(), x.get(), 2, 2, false, nullptr, 0), ae::Error);
  EXPECT_THROW(ae::cuda::broadcast<float>(Broadcast::channel, 1.0f, x.get(), x.get(), 3, 1, false, nullptr, 2),
               ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
