// ae::cuda::binary on cuda-sim against ae::cpu::binary: every op and broadcast, overwrite and
// accumulate, shapes around the 256-thread block (1, 63, 64, 65, 129 and primes), and y aliasing a;
// the per-sample broadcasts (sample, tile, channel) with G rows per sample, G in {1, 3, 7, 32},
// over 1, 5 and 9 samples. The same shared math on both sides: bit-equal under cuda-sim (same_math_tolerance).
#include "kernels/cuda/binary.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/binary.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct BinaryCase {
  BinaryOp op;
  Broadcast bb;
  int64_t M, N;
  bool accumulate = false;
  uint64_t seed = 1;
  int64_t G = 1;  // rows per sample (sample, tile): M = samples·G

  bool grouped() const { return bb == Broadcast::sample || bb == Broadcast::tile || bb == Broadcast::channel; }
  std::string params() const {
    std::ostringstream os;
    os << "binary(op=" << binary_op_name(op) << ",bcast=" << broadcast_name(bb) << ",M=" << M << ",N=" << N;
    if (grouped()) os << ",G=" << G;
    os << ",acc=" << accumulate << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return double(M) * N * (accumulate ? 2 : 1); }
  double bytes() const { return 4.0 * (M * N * (accumulate ? 3 : 2) + broadcast_size(bb, M, N, G)); }
};

class Binary : public DeviceTestWithParam<BinaryCase> {};

TEST_P(Binary, MatchesCpuReference) {
  const BinaryCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const std::vector<float> a = uniform(c.M * c.N, -1, 1, c.seed, 1);
  const std::vector<float> b = uniform(broadcast_size(c.bb, c.M, c.N, c.G), -1, 1, c.seed, 2);
  const std::vector<float> y0 = uniform(c.M * c.N, -1, 1, c.seed, 3);
  std::vector<float> ref = c.accumulate ? y0 : std::vector<float>(c.M * c.N);
  cpu::binary<float>(c.op, a.data(), b.data(), ref.data(), c.M, c.N, c.bb, c.accumulate, c.G);

  DeviceBuffer<float> da(a), db(b), y(c.M * c.N);
  if (c.accumulate) y.upload(y0);
  ae::cuda::binary<float>(c.op, da.get(), db.get(), y.get(), c.M, c.N, c.bb, c.accumulate, nullptr, c.G);
  const std::vector<float> got = y.download();
  std::vector<float> in_place;
  if (!c.accumulate) {
    ae::cuda::binary<float>(c.op, da.get(), db.get(), da.get(), c.M, c.N, c.bb, false, nullptr, c.G);  // y aliasing a
    in_place = da.download();
  }
  expect_guards(c.params(), da, db, y);

  FailureDump dump(c.params());
  dump.add("a", a), dump.add("b", b), dump.add("y0", y0), dump.add("y_ref", ref), dump.add("y", got);
  ASSERT_TRUE(nonzero("y_ref", ref));
  EXPECT_TRUE(compare("y", got, ref, same_math_tolerance<float>(), 1, 1.0));
  if (!c.accumulate) EXPECT_TRUE(compare("y in place", in_place, ref, same_math_tolerance<float>(), 1, 1.0));
}

std::vector<BinaryCase> binary_cases() {
  struct Shape {
    int64_t M, N;
  };
  std::vector<BinaryCase> v;
  uint64_t seed = 1;
  for (int op = 0; op < BINARY_OP_COUNT; ++op)
    for (int bb = 0; bb < BROADCAST_COUNT; ++bb)
      for (Shape s : {Shape{1, 1}, Shape{63, 65}, Shape{37, 129}, Shape{64, 1}, Shape{1, 257}})
        for (bool acc : {false, true})
          v.push_back({static_cast<BinaryOp>(op), static_cast<Broadcast>(bb), s.M, s.N, acc, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Binary, ::testing::ValuesIn(binary_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// The contractive penalty's [B·G, N] Jacobian rows against per-sample (sample) and shared (tile)
// operands, and an NCHW tensor as [B·C, H·W] against a per-channel bias (channel, G = C): G from 1
// (sample = none, tile = row, channel = scalar) to past a warp, odd N, and one sample (tile's b
// then as large as a). A wrong i/G or i%G reads another row of b: never bit-equal by chance.
std::vector<BinaryCase> grouped_binary_cases() {
  struct Shape {
    int64_t samples, N;
  };
  std::vector<BinaryCase> v;
  uint64_t seed = 500;
  for (int op = 0; op < BINARY_OP_COUNT; ++op)
    for (Broadcast bb : {Broadcast::sample, Broadcast::tile, Broadcast::channel})
      for (int64_t G : {1, 3, 7, 32})
        for (Shape s : {Shape{1, 1}, Shape{1, 65}, Shape{5, 37}, Shape{9, 129}, Shape{3, 1}})
          for (bool acc : {false, true})
            v.push_back({static_cast<BinaryOp>(op), bb, s.samples * G, s.N, acc, seed++, G});
  return v;
}

INSTANTIATE_TEST_SUITE_P(PerSample, Binary, ::testing::ValuesIn(grouped_binary_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class BinaryEdge : public DeviceTest {};
TEST_F(BinaryEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> a(6);
  EXPECT_THROW(
      ae::cuda::binary<float>(BinaryOp::add, a.get(), a.get(), a.get(), -1, 2, Broadcast::none, false, nullptr),
      ae::Error);
  EXPECT_THROW(ae::cuda::binary<float>(BinaryOp::mul, a.get(), nullptr, a.get(), 2, 3, Broadcast::row, false, nullptr),
               ae::Error);
  // Rows that are not whole samples, and G < 1.
  EXPECT_THROW(
      ae::cuda::binary<float>(BinaryOp::add, a.get(), a.get(), a.get(), 3, 2, Broadcast::sample, false, nullptr, 2),
      ae::Error);
  EXPECT_THROW(
      ae::cuda::binary<float>(BinaryOp::add, a.get(), a.get(), a.get(), 3, 2, Broadcast::tile, false, nullptr, 0),
      ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
