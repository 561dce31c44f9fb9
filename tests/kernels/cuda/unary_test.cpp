// ae::cuda::unary on cuda-sim against ae::cpu::unary: every op, sizes around the 256-thread block
// and past one grid-stride lap, out of place and in place. The same shared math on both sides, so
// the results are bit-equal under cuda-sim (same_math_tolerance).
#include "kernels/cuda/unary.cuh"

#include <gtest/gtest.h>

#include <cmath>

#include <sstream>

#include "kernels/cpu/unary.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct UnaryCase {
  UnaryOp op;
  int64_t n;
  float alpha = -1.5f;
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << "unary(op=" << unary_op_name(op) << ",n=" << n << ",alpha=" << alpha << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return 2.0 * n; }
  double bytes() const { return 8.0 * n; }
};

class Unary : public DeviceTestWithParam<UnaryCase> {};

TEST_P(Unary, MatchesCpuReference) {
  const UnaryCase& c = GetParam();
  SCOPED_TRACE(c.params());
  std::vector<float> x = uniform(c.n, -3, 3, c.seed, 1);
  if (c.n > 2) x[c.n / 2] = 0.0f;  // sign(0) and |0|
  if (c.op == UnaryOp::log || c.op == UnaryOp::recip)
    for (float& v : x) v = std::fabs(v) + 0.25f;  // their domain: positive (a batch mean of sigmoid units)
  std::vector<float> ref(c.n);
  cpu::unary<float>(c.op, c.alpha, x.data(), ref.data(), c.n);

  DeviceBuffer<float> dx(x), y(c.n);
  ae::cuda::unary<float>(c.op, c.alpha, dx.get(), y.get(), c.n, nullptr);
  const std::vector<float> got = y.download();
  ae::cuda::unary<float>(c.op, c.alpha, dx.get(), dx.get(), c.n, nullptr);  // y aliasing x
  const std::vector<float> in_place = dx.download();
  expect_guards(c.params(), dx, y);

  FailureDump dump(c.params());
  dump.add("x", x), dump.add("y_ref", ref), dump.add("y", got), dump.add("y_in_place", in_place);
  ASSERT_TRUE(nonzero("y_ref", ref));
  EXPECT_TRUE(compare("y", got, ref, same_math_tolerance<float>(), 1, 1.0));
  EXPECT_TRUE(compare("y in place", in_place, ref, same_math_tolerance<float>(), 1, 1.0));
}

std::vector<UnaryCase> unary_cases() {
  std::vector<UnaryCase> v;
  uint64_t seed = 1;
  for (int op = 0; op < UNARY_OP_COUNT; ++op)
    for (int64_t n : {1, 63, 64, 65, 129, 257}) v.push_back({static_cast<UnaryOp>(op), n, -1.5f, seed++});
  v.push_back({UnaryOp::exp, 4096 * 256 + 37, 0.25f, seed++});  // the grid-stride loop's second lap
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Unary, ::testing::ValuesIn(unary_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class UnaryEdge : public DeviceTest {};
TEST_F(UnaryEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> x(4);
  EXPECT_THROW(ae::cuda::unary<float>(UnaryOp::exp, 1.0f, x.get(), x.get(), -1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::unary<float>(UnaryOp::exp, 1.0f, nullptr, x.get(), 4, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::unary<float>(static_cast<UnaryOp>(9), 1.0f, x.get(), x.get(), 4, nullptr), ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
