// ae::cuda::dense_backward on cuda-sim against ae::cpu::dense_backward: act′ from y and from z for
// every activation, with and without db/dx, overwrite and accumulate (dW and db each on its own
// flag, both ways round), tile-edge shapes for both GEMMs (dW reduces over M, dx over N), an exact
// mode on small integers, one realistic layer.
#include "kernels/cuda/dense_bwd.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/dense.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct DenseBwdCase {
  Act act;
  int64_t M, N, K;
  bool from_z = false;  // act′ from the kept pre-activation (else from y)
  bool with_db = true, with_dx = true;
  bool acc_dw = false, acc_db = false;  // add into the prefilled dw / db (else they start as NaN)
  bool exact = false;  // small integers; linear/relu only (act′ ∈ {0, 1}): dW, db, dx bit-equal
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << "dense_bwd(act=" << act_name(act) << ",M=" << M << ",N=" << N << ",K=" << K
       << ",from=" << (from_z ? "z" : "y") << ",db=" << with_db << ",dx=" << with_dx << ",acc_dw=" << acc_dw
       << ",acc_db=" << acc_db << (exact ? ",exact" : "") << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return 2.0 * M * N * K * (with_dx ? 2 : 1); }
  double bytes() const { return 4.0 * (M * N * 2 + M * K + N * K * 2 + (with_dx ? M * K : 0) + N); }
};

struct DenseBwdData {
  std::vector<float> dy, y, z, x, w, dw0, db0;
  explicit DenseBwdData(const DenseBwdCase& c) {
    const size_t MN = c.M * c.N;
    if (c.exact) {
      dy = small_ints(MN, -3, 3, c.seed, 1);
      z = small_ints(MN, -4, 4, c.seed, 2);
      x = small_ints(c.M * c.K, -3, 3, c.seed, 3);
      w = small_ints(c.N * c.K, -3, 3, c.seed, 4);
      dw0 = small_ints(c.N * c.K, -9, 9, c.seed, 5);
      db0 = small_ints(c.N, -9, 9, c.seed, 6);
    } else {
      dy = uniform(MN, -1, 1, c.seed, 1);
      z = uniform(MN, -3, 3, c.seed, 2);
      x = uniform(c.M * c.K, -1, 1, c.seed, 3);
      w = uniform(c.N * c.K, -1, 1, c.seed, 4);
      dw0 = uniform(c.N * c.K, -1, 1, c.seed, 5);
      db0 = uniform(c.N, -1, 1, c.seed, 6);
    }
    y.resize(MN);
    for (size_t i = 0; i < MN; ++i) y[i] = act_forward(c.act, z[i]);
  }
};

struct DenseBwdOut {
  std::vector<float> dw, db, dx;
};

DenseBwdOut run_cuda(const DenseBwdCase& c, const DenseBwdData& d) {
  DeviceBuffer<float> dy(d.dy), y(d.y), z(d.z), x(d.x), w(d.w), dw(c.N * c.K), db(c.N), dx(c.M * c.K);
  if (c.acc_dw) dw.upload(d.dw0);
  if (c.acc_db) db.upload(d.db0);
  ae::cuda::dense_backward<float>(dy.get(), y.get(), c.from_z ? z.get() : nullptr, c.act, x.get(), w.get(), c.M, c.N,
                                  c.K, dw.get(), c.with_db ? db.get() : nullptr, c.with_dx ? dx.get() : nullptr,
                                  c.acc_dw, c.acc_db, nullptr);
  expect_guards(c.params(), dy, y, z, x, w, dw, db, dx);
  // dy is only read: dz is never materialised over it.
  EXPECT_TRUE(bitwise_equal("dy (must be untouched)", dy.download(), d.dy));
  return {dw.download(), db.download(), dx.download()};
}

class DenseBwd : public DeviceTestWithParam<DenseBwdCase> {};

TEST_P(DenseBwd, MatchesCpuReference) {
  const DenseBwdCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const DenseBwdData d(c);
  // The reference; it wants non-null pointers even for empty tensors.
  const float none_in = 0;
  std::vector<float> dz(std::max<int64_t>(1, c.M * c.N)), dw_ref = d.dw0, db_ref = d.db0;
  std::vector<float> dx_ref(c.M * c.K), pad(1);
  if (!c.acc_dw) std::fill(dw_ref.begin(), dw_ref.end(), NAN);
  if (!c.acc_db) std::fill(db_ref.begin(), db_ref.end(), NAN);
  auto in = [&](const std::vector<float>& v) { return v.empty() ? &none_in : v.data(); };
  auto out = [&](std::vector<float>& v) { return v.empty() ? pad.data() : v.data(); };
  cpu::dense_backward<float>(in(d.dy), in(d.y), c.from_z ? in(d.z) : nullptr, c.act, in(d.x), in(d.w), c.M, c.N, c.K,
                             dz.data(), out(dw_ref), c.with_db ? out(db_ref) : nullptr,
                             c.with_dx ? out(dx_ref) : nullptr, c.acc_dw, c.acc_db);
  const DenseBwdOut got = run_cuda(c, d);

  FailureDump dump(c.params());
  dump.add("dy", d.dy), dump.add("y", d.y), dump.add("z", d.z), dump.add("x", d.x), dump.add("w", d.w);
  dump.add("dw_ref", dw_ref), dump.add("dw", got.dw), dump.add("db_ref", db_ref), dump.add("db", got.db);
  dump.add("dx_ref", dx_ref), dump.add("dx", got.dx);
  const Tolerance tol = c.exact ? exact_tolerance() : tolerance<float>();
  const double dz_max = max_abs(dz);
  if (c.M * c.N > 0) ASSERT_TRUE(nonzero("dz", dz));  // else the NaN prefill keeps it honest
  // The reference took each flag as given: its NaN prefill is gone (a NaN = NaN match proves nothing).
  ASSERT_TRUE(finite("dW reference", dw_ref));
  if (c.with_db) ASSERT_TRUE(finite("db reference", db_ref));
  EXPECT_TRUE(compare("dW", got.dw, dw_ref, tol, c.M, dz_max * max_abs(d.x)));
  if (c.with_db) EXPECT_TRUE(compare("db", got.db, db_ref, tol, c.M, dz_max));
  if (c.with_dx) EXPECT_TRUE(compare("dx", got.dx, dx_ref, tol, c.N, dz_max * max_abs(d.w)));
}

class DenseBwdDeterminism : public DeviceTest {};
TEST_F(DenseBwdDeterminism, TwoSchedulesBitEqual) {
  const DenseBwdCase c{Act::gelu, 67, 65, 33, true, true, true, false, false, false, 31};
  const DenseBwdData d(c);
  DenseBwdOut a, b;
  with_sim_seed(101, [&] { a = run_cuda(c, d); });
  with_sim_seed(202, [&] { b = run_cuda(c, d); });
  ASSERT_TRUE(nonzero("dW", a.dw));
  EXPECT_TRUE(bitwise_equal("dW", a.dw, b.dw));
  EXPECT_TRUE(bitwise_equal("db", a.db, b.db));
  EXPECT_TRUE(bitwise_equal("dx", a.dx, b.dx));
}

class DenseBwdEdge : public DeviceTest {};
TEST_F(DenseBwdEdge, GeluWithoutZIsAnError) {
  DeviceBuffer<float> buf(16);
  EXPECT_THROW(ae::cuda::dense_backward<float>(buf.get(), buf.get(), nullptr, Act::gelu, buf.get(), buf.get(), 2, 2, 2,
                                               buf.get(), nullptr, nullptr, false, false, nullptr),
               ae::Error);
}

std::vector<DenseBwdCase> dense_bwd_cases() {
  std::vector<DenseBwdCase> v;
  uint64_t seed = 1;
  // Exact mode over tile edges of both GEMMs: dW tiles N×K and steps over M; dx tiles M×K, steps over N.
  // The seed also walks the accumulation flags: neither, both, dW only, db only.
  for (int64_t M : {1, 15, 16, 17, 65})
    for (int64_t N : {1, 63, 64, 65})
      for (int64_t K : {1, 64, 65, 129}) {
        const bool acc_dw = seed % 4 == 1 || seed % 4 == 2, acc_db = seed % 4 == 1 || seed % 4 == 3;
        v.push_back({(seed % 2) ? Act::relu : Act::linear, M, N, K, seed % 3 == 0, true, true, acc_dw, acc_db, true,
                     seed++});
      }
  // Every activation from y (where defined) and from z, random floats.
  for (int a = 0; a < ACT_COUNT; ++a) {
    const Act act = static_cast<Act>(a);
    if (!act_derivative_needs_z(act)) v.push_back({act, 37, 129, 65, false, true, true, false, false, false, 3});
    v.push_back({act, 37, 129, 65, true, true, true, a % 2 == 0, a % 2 == 0, false, 4});
  }
  v.push_back({Act::tanh, 29, 31, 17, false, false, false, false, false, false, 5});  // no db, no dx
  v.push_back({Act::relu, 30, 16, 70, false, true, false, true, true, true, 6});      // accumulate, no dx
  v.push_back({Act::relu, 0, 17, 9, false, true, true, false, false, true, 7});       // M = 0: dW = 0, db = 0
  v.push_back({Act::relu, 0, 17, 9, false, true, true, true, true, true, 8});         // M = 0 accumulate: unchanged
  v.push_back({Act::relu, 9, 5, 0, false, true, true, false, false, true, 9});        // K = 0: only db
  v.push_back({Act::linear, 9, 0, 5, false, true, true, false, false, true, 10});     // N = 0: dx = 0
  // dW added to while db is overwritten, and the other way round: the first layer of a model with a
  // contractive penalty (the penalty writes dW0 first) or a tied first layer; db past several tiles
  // of the row sum's column of blocks, dW over K > one tile.
  v.push_back({Act::sigmoid, 70, 130, 67, false, true, false, true, false, false, 12});
  v.push_back({Act::tanh, 70, 130, 67, false, true, true, false, true, false, 13});
  v.push_back({Act::relu, 33, 65, 129, false, true, true, true, false, true, 14});
  v.push_back({Act::relu, 33, 65, 129, true, true, true, false, true, true, 15});
  v.push_back({Act::relu, 0, 17, 9, false, true, true, true, false, true, 16});  // M = 0: dW unchanged, db = 0
  v.push_back({Act::relu, 0, 17, 9, false, true, true, false, true, true, 17});  // M = 0: dW = 0, db unchanged
  // The realistic layer: the 784-wide sigmoid output layer of 784-256r-32-256r-784s at batch 256.
  v.push_back({Act::sigmoid, 256, 784, 256, false, true, true, false, false, false, 11});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, DenseBwd, ::testing::ValuesIn(dense_bwd_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

}  // namespace
}  // namespace ae::cudatest
