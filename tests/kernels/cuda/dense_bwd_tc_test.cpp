// ae::cuda::dense_backward_tc (tensor cores, fp16/bf16/tf32) on cuda-sim against the fp64 reference of
// lowp_reference.h: act′ from y and from z for every activation, with and without db/dx, overwrite and
// accumulate (dW and db each on its own flag), both tiles over tile-edge shapes of both GEMMs (dW tiles
// N×K and steps over M; dx tiles M×K and steps over N), an exact mode on small integers (dW, db bit-equal
// in fp32, dx after its rounding to the type), dW's split over the batch M (forced split counts over odd
// M, M below the split count, M = 1, the automatic split; the workspace guarded and named for memcheck;
// db bit-equal to the split-order sum), and the default model's output layer.
#include "kernels/cuda/dense_bwd_tc.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <sstream>

#include "tests/kernels/cuda/harness.h"
#include "tests/kernels/cuda/lowp_reference.h"

namespace ae::cudatest {
namespace {

using ae::cuda::TcTile;

const char* tile_name(TcTile t) { return ae::cuda::tc_tile_name(t); }

struct DenseBwdTcCase {
  Lowp dtype;
  Act act;
  int64_t M, N, K;
  TcTile tile = TcTile::automatic;
  bool from_z = false;  // act′ from the kept pre-activation (else from y)
  bool with_db = true, with_dx = true;
  bool acc_dw = false, acc_db = false;  // add into the prefilled dw / db (else they start as NaN)
  bool exact = false;  // small integers; linear/relu only (act′ ∈ {0, 1})
  uint64_t seed = 1;
  int splits = 0;  // dW's split over M: 0 automatic, else forced (dense_backward_tc_split)

  std::string params() const {
    std::ostringstream os;
    os << "dense_bwd_tc(dtype=" << cpu::lowp_name(dtype) << ",act=" << act_name(act) << ",tile=" << tile_name(tile)
       << ",M=" << M << ",N=" << N << ",K=" << K << ",from=" << (from_z ? "z" : "y") << ",db=" << with_db
       << ",dx=" << with_dx << ",acc_dw=" << acc_dw << ",acc_db=" << acc_db << (exact ? ",exact" : "")
       << (splits ? ",splits=" + std::to_string(splits) : std::string())
       << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return 2.0 * M * N * K * (with_dx ? 2 : 1); }
  double bytes() const {
    const double e = dtype == Lowp::tf32 ? 4 : 2;
    return e * (M * N * 2 + M * K + N * K + (with_dx ? M * K : 0)) + 4.0 * (N * K + N);
  }
};

// Inputs as the storage type holds them (dy, y, z, x, w) and the fp32 gradients to accumulate into.
struct DenseBwdTcData {
  std::vector<float> dy, y, z, x, w, dw0, db0;
  explicit DenseBwdTcData(const DenseBwdTcCase& c) {
    const size_t MN = c.M * c.N;
    if (c.exact) {
      dy = small_ints(MN, -3, 3, c.seed, 1);
      for (float& e : dy) e = e == 0 ? 1 : e;  // a 1×1 case must not be vacuous
      z = small_ints(MN, -4, 4, c.seed, 2);
      x = small_ints(c.M * c.K, -3, 3, c.seed, 3);
      w = small_ints(c.N * c.K, -3, 3, c.seed, 4);
      dw0 = small_ints(c.N * c.K, -9, 9, c.seed, 5);
      db0 = small_ints(c.N, -9, 9, c.seed, 6);
    } else {
      dy = stored(c.dtype, uniform(MN, -1, 1, c.seed, 1));
      z = stored(c.dtype, uniform(MN, -3, 3, c.seed, 2));
      x = stored(c.dtype, uniform(c.M * c.K, -1, 1, c.seed, 3));
      w = stored(c.dtype, uniform(c.N * c.K, -1, 1, c.seed, 4));
      dw0 = uniform(c.N * c.K, -1, 1, c.seed, 5);
      db0 = uniform(c.N, -1, 1, c.seed, 6);
    }
    y.resize(MN);
    for (size_t i = 0; i < MN; ++i) y[i] = stored(c.dtype, act_forward(c.act, z[i]));  // the forward's stored y
  }
};

struct DenseBwdTcOut {
  std::vector<float> dw, db, dx;
};

DenseBwdTcOut run_cuda(const DenseBwdTcCase& c, const DenseBwdTcData& d) {
  return with_lowp(c.dtype, [&](auto t) {
    constexpr Lowp T = decltype(t)::value;
    using IN = Storage<T>;
    DeviceBuffer<IN> dy(to_storage<T>(d.dy)), y(to_storage<T>(d.y)), z(to_storage<T>(d.z)), x(to_storage<T>(d.x)),
        w(to_storage<T>(d.w)), dx(c.M * c.K);
    DeviceBuffer<float> dw(c.N * c.K), db(c.N);
    // The workspace as the planner will size it, between guard bytes, NaN-prefilled: every partial
    // the sum reads must have been written.
    const size_t ws_bytes = ae::cuda::dense_backward_tc_workspace_bytes(c.M, c.N, c.K, c.tile, c.splits);
    DeviceBuffer<float> ws(ws_bytes / sizeof(float));
    name_for_memcheck(ws, "workspace");
    name_for_memcheck(dy, "dy"), name_for_memcheck(y, "y"), name_for_memcheck(z, "z"), name_for_memcheck(x, "x");
    name_for_memcheck(w, "w"), name_for_memcheck(dx, "dx"), name_for_memcheck(dw, "dw"), name_for_memcheck(db, "db");
    if (c.acc_dw) dw.upload(d.dw0);
    if (c.acc_db) db.upload(d.db0);
    ae::cuda::dense_backward_tc<IN>(dy.get(), y.get(), c.from_z ? z.get() : nullptr, c.act, x.get(), w.get(), c.M, c.N,
                                    c.K, dw.get(), c.with_db ? db.get() : nullptr, c.with_dx ? dx.get() : nullptr,
                                    c.acc_dw, c.acc_db, nullptr, ws_bytes ? ws.get() : nullptr, ws_bytes, c.tile,
                                    c.splits);
    expect_guards(c.params(), dy, y, z, x, w, dw, db, dx, ws);
    // dy is only read: dz is never materialised over it.
    EXPECT_TRUE(bitwise_equal("dy (must be untouched)", from_storage<T>(dy.download()), d.dy));
    return DenseBwdTcOut{dw.download(), db.download(), from_storage<T>(dx.download())};
  });
}

class DenseBwdTc : public DeviceTestWithParam<DenseBwdTcCase> {};

TEST_P(DenseBwdTc, MatchesLowpReference) {
  const DenseBwdTcCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const DenseBwdTcData d(c);
  const std::vector<float> dz = lowp_dz(c.dtype, d.dy, c.from_z ? d.z : d.y, c.from_z, c.act);
  std::vector<float> dw_ref = d.dw0, db_ref = d.db0, dx_ref(c.M * c.K);
  if (!c.acc_dw) std::fill(dw_ref.begin(), dw_ref.end(), NAN);
  if (!c.acc_db) std::fill(db_ref.begin(), db_ref.end(), NAN);
  const ae::cuda::TcDwSplit split = ae::cuda::dense_backward_tc_split(c.M, c.N, c.K, c.tile, c.splits);
  lowp_dense_backward(c.dtype, dz, d.x, d.w, c.M, c.N, c.K, dw_ref, c.with_db ? &db_ref : nullptr,
                      c.with_dx ? &dx_ref : nullptr, c.acc_dw, c.acc_db, split.splits > 1 ? split.rows : 0);
  const DenseBwdTcOut got = run_cuda(c, d);

  FailureDump dump(c.params());
  dump.add("dy", d.dy), dump.add("y", d.y), dump.add("z", d.z), dump.add("x", d.x), dump.add("w", d.w);
  dump.add("dw_ref", dw_ref), dump.add("dw", got.dw), dump.add("db_ref", db_ref), dump.add("db", got.db);
  dump.add("dx_ref", dx_ref), dump.add("dx", got.dx);
  if (c.M * c.N > 0) ASSERT_TRUE(nonzero("dz", dz));  // else the NaN prefill keeps it honest
  ASSERT_TRUE(finite("dW reference", dw_ref));
  if (c.with_db) ASSERT_TRUE(finite("db reference", db_ref));
  const bool curved = act_has_curvature(c.act);
  const Tolerance w_tol = c.exact ? exact_tolerance() : tc_tolerance(c.dtype, false, curved);
  const Tolerance x_tol = c.exact ? exact_tolerance() : tc_tolerance(c.dtype, true, curved);
  // db sums the rounded dz in the kernel's documented order (rows in order within a split, the splits'
  // partials in split order): bit-equal, unless a GPU's act′ differs.
  const Tolerance b_tol = c.exact || !curved || AE_CUDATEST_SIM ? exact_tolerance() : w_tol;
  const double dz_max = max_abs(dz);
  EXPECT_TRUE(compare("dW", got.dw, dw_ref, w_tol, c.M, dz_max * max_abs(operands(c.dtype, d.x))));
  if (c.with_db) EXPECT_TRUE(compare("db", got.db, db_ref, b_tol, c.M, dz_max));
  if (c.with_dx) EXPECT_TRUE(compare("dx", got.dx, dx_ref, x_tol, c.N, dz_max * max_abs(operands(c.dtype, d.w))));
}

std::vector<DenseBwdTcCase> dense_bwd_tc_cases() {
  std::vector<DenseBwdTcCase> v;
  uint64_t seed = 1;
  for (int d = 0; d < cpu::LOWP_COUNT; ++d) {
    const Lowp t = static_cast<Lowp>(d);
    // Exact mode over tile edges of both GEMMs and both tiles; the seed walks act′'s source and the
    // accumulation flags (neither, both, dW only, db only).
    for (TcTile tile : {TcTile::t32, TcTile::t64})
      for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1},    {15, 17, 16}, {17, 33, 15},
                                                                 {33, 16, 31}, {31, 65, 64}, {65, 63, 17},
                                                                 {67, 31, 129}, {97, 1, 33}})
      {
        const bool acc_dw = seed % 4 == 1 || seed % 4 == 2, acc_db = seed % 4 == 1 || seed % 4 == 3;
        v.push_back({t, (seed % 2) && M * N > 1 ? Act::relu : Act::linear, M, N, K, tile, seed % 3 == 0, true, true, acc_dw, acc_db,
                     true, seed++});
      }
    // The 32×32-warp tiles (64×64 of 4 warps, 128×64 of 8) over their edges, exact.
    for (TcTile tile : {TcTile::t64_w4, TcTile::t128})
      for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {65, 63, 17}, {129, 127, 65}}) {
        const bool acc_dw = seed % 4 == 1 || seed % 4 == 2, acc_db = seed % 4 == 1 || seed % 4 == 3;
        v.push_back({t, (seed % 2) && M * N > 1 ? Act::relu : Act::linear, M, N, K, tile, seed % 3 == 0, true, true, acc_dw,
                     acc_db, true, seed++});
      }
    // Every activation from y (where defined) and from z, random inputs, every tile.
    constexpr TcTile TILES[] = {TcTile::t32, TcTile::t64, TcTile::t64_w4, TcTile::t128};
    for (int a = 0; a < ACT_COUNT; ++a) {
      const Act act = static_cast<Act>(a);
      const TcTile tile = TILES[a % 4];
      if (!act_derivative_needs_z(act))
        v.push_back({t, act, 37, 67, 41, tile, false, true, true, false, false, false, seed++});
      v.push_back({t, act, 37, 67, 41, tile, true, true, true, a % 2 == 0, a % 2 == 0, false, seed++});
    }
    v.push_back({t, Act::tanh, 29, 31, 17, TcTile::t32, false, false, false, false, false, false, seed++});  // no db, dx
    v.push_back({t, Act::relu, 0, 17, 9, TcTile::t32, false, true, true, false, false, true, seed++});  // M = 0: zeros
    v.push_back({t, Act::relu, 0, 17, 9, TcTile::t64, false, true, true, true, true, true, seed++});  // M = 0: unchanged
    v.push_back({t, Act::relu, 9, 5, 0, TcTile::t32, false, true, true, false, false, true, seed++});   // K = 0: db only
    v.push_back({t, Act::linear, 9, 0, 5, TcTile::t64, false, true, true, false, false, true, seed++});  // N = 0: dx = 0
  }
  // dW split over M: forced split counts over odd M (tails of a split and of a K-step), M below the
  // split count (empty splits add zeros), M = 1, K = 0 (db only), both tiles, exact and not; and an
  // automatic split (M = 300 over 2 splits of 192 rows on the virtual device's 132 SMs).
  struct Split {
    Lowp t;
    Act act;
    int64_t M, N, K;
    TcTile tile;
    bool acc, exact;
    int splits;
  };
  for (const Split& s : std::vector<Split>{{Lowp::bf16, Act::relu, 97, 33, 65, TcTile::t32, false, true, 3},
                                           {Lowp::fp16, Act::linear, 131, 17, 70, TcTile::t64, true, true, 4},
                                           {Lowp::tf32, Act::relu, 67, 31, 33, TcTile::t32, true, true, 2},
                                           {Lowp::bf16, Act::linear, 3, 19, 21, TcTile::t32, false, true, 7},
                                           {Lowp::tf32, Act::relu, 1, 17, 9, TcTile::t64, true, true, 3},
                                           {Lowp::fp16, Act::relu, 45, 9, 0, TcTile::t32, true, true, 4},
                                           {Lowp::fp16, Act::tanh, 77, 35, 40, TcTile::t32, false, false, 5},
                                           {Lowp::tf32, Act::sigmoid, 61, 18, 47, TcTile::t64, true, false, 3},
                                           {Lowp::bf16, Act::relu, 131, 129, 65, TcTile::t128, false, true, 3},
                                           {Lowp::tf32, Act::relu, 97, 65, 70, TcTile::t64_w4, true, true, 2},
                                           {Lowp::fp16, Act::tanh, 70, 67, 33, TcTile::t128, false, false, 4},
                                           {Lowp::bf16, Act::relu, 300, 17, 9, TcTile::automatic, true, true, 0},
                                           {Lowp::fp16, Act::softplus, 300, 20, 12, TcTile::automatic, false, false, 0}})
    v.push_back({s.t, s.act, s.M, s.N, s.K, s.tile, !s.exact, true, true, s.acc, s.acc, s.exact, seed++, s.splits});
  // The default model's 256→784 sigmoid output layer at batch 256, the tiles the launcher picks.
  for (int d = 0; d < cpu::LOWP_COUNT; ++d)
    v.push_back({static_cast<Lowp>(d), Act::sigmoid, 256, 784, 256, TcTile::automatic, false, true, true, false, false,
                 false, 98});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, DenseBwdTc, ::testing::ValuesIn(dense_bwd_tc_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class DenseBwdTcDeterminism : public DeviceTest {};
TEST_F(DenseBwdTcDeterminism, TwoSchedulesBitEqual) {
  const DenseBwdTcCase c{Lowp::fp16, Act::gelu, 67, 65, 33, TcTile::t64, true, true, true, false, false, false, 31};
  const DenseBwdTcData d(c);
  DenseBwdTcOut a, b;
  with_sim_seed(101, [&] { a = run_cuda(c, d); });
  with_sim_seed(202, [&] { b = run_cuda(c, d); });
  ASSERT_TRUE(nonzero("dW", a.dw));
  EXPECT_TRUE(bitwise_equal("dW", a.dw, b.dw));
  EXPECT_TRUE(bitwise_equal("db", a.db, b.db));
  EXPECT_TRUE(bitwise_equal("dx", a.dx, b.dx));
}

// The split sum is a fixed order too: two schedules, one result.
TEST_F(DenseBwdTcDeterminism, SplitTwoSchedulesBitEqual) {
  const DenseBwdTcCase c{Lowp::bf16, Act::sigmoid, 70, 33, 17, TcTile::t32, false, true, true, true, true, false, 32, 3};
  const DenseBwdTcData d(c);
  DenseBwdTcOut a, b;
  with_sim_seed(101, [&] { a = run_cuda(c, d); });
  with_sim_seed(202, [&] { b = run_cuda(c, d); });
  ASSERT_TRUE(nonzero("dW", a.dw));
  EXPECT_TRUE(bitwise_equal("dW", a.dw, b.dw));
  EXPECT_TRUE(bitwise_equal("db", a.db, b.db));
}

class DenseBwdTcEdge : public DeviceTest {};
TEST_F(DenseBwdTcEdge, SplitPlanAndWorkspace) {
  // Automatic: a 256×32 dW at batch 4096 (8 blocks of 32×32 unsplit) splits 32 ways on 132 SMs;
  // batch 64 is never split (below two splits of 128 rows); the workspace holds the partials.
  const ae::cuda::TcDwSplit big = ae::cuda::dense_backward_tc_split(4096, 256, 32);
  EXPECT_EQ(big.splits, 32);
  EXPECT_EQ(big.rows, 128);
  EXPECT_EQ(ae::cuda::dense_backward_tc_split(64, 256, 32).splits, 1);
  EXPECT_EQ(ae::cuda::dense_backward_tc_workspace_bytes(64, 256, 32), 0u);
  EXPECT_GE(ae::cuda::dense_backward_tc_workspace_bytes(4096, 256, 32), size_t(32) * (256 * 32 + 256) * 4);
  EXPECT_EQ(ae::cuda::dense_backward_tc_split(5, 3, 2, TcTile::t32, 7).rows, 1);  // forced: M < splits
  EXPECT_THROW(ae::cuda::dense_backward_tc_split(5, 3, 2, TcTile::t32, -1), ae::Error);
}

TEST_F(DenseBwdTcEdge, TooSmallWorkspaceIsAnError) {
  DeviceBuffer<__half> buf(64);
  DeviceBuffer<float> dw(64), db(8), ws(16);
  const size_t need = ae::cuda::dense_backward_tc_workspace_bytes(8, 8, 8, TcTile::t32, 2);
  ASSERT_GT(need, ws.size() * sizeof(float));
  EXPECT_THROW(ae::cuda::dense_backward_tc<__half>(buf.get(), nullptr, nullptr, Act::linear, buf.get(), buf.get(), 8, 8,
                                                   8, dw.get(), db.get(), nullptr, false, false, nullptr, ws.get(),
                                                   ws.size() * sizeof(float), TcTile::t32, 2),
               ae::Error);
}

TEST_F(DenseBwdTcEdge, GeluWithoutZIsAnError) {
  DeviceBuffer<__nv_bfloat16> buf(16);
  DeviceBuffer<float> dw(16);
  EXPECT_THROW(ae::cuda::dense_backward_tc<__nv_bfloat16>(buf.get(), buf.get(), nullptr, Act::gelu, buf.get(), buf.get(),
                                                          2, 2, 2, dw.get(), nullptr, nullptr, false, false, nullptr,
                                                          nullptr, 0),
               ae::Error);
}

// A runtime sizes the workspace once for its plan's batch and runs partial batches in it: the
// bound covers every M up to the batch, though a smaller M can split more ways (rows are rounded to
// the grain: a plan of 513 rows splits 3 ways, its 512-row batch 4 on the sim's device).
TEST_F(DenseBwdTcEdge, WorkspaceBoundCoversEveryPartialBatch) {
  bool smaller_needs_more = false;
  for (int64_t batch : {64, 257, 513, 1000, 1024, 4096})
    for (auto [N, K] : {std::pair<int64_t, int64_t>{784, 64}, {256, 784}, {32, 256}, {7, 5}}) {
      const size_t bound = ae::cuda::dense_backward_tc_workspace_bound(batch, N, K);
      for (int64_t M = 1; M <= batch; ++M) {
        const size_t need = ae::cuda::dense_backward_tc_workspace_bytes(M, N, K);
        ASSERT_LE(need, bound) << "M=" << M << " of batch " << batch << ", N=" << N << ", K=" << K;
        smaller_needs_more = smaller_needs_more || need > ae::cuda::dense_backward_tc_workspace_bytes(batch, N, K);
      }
    }
  EXPECT_TRUE(smaller_needs_more) << "no partial batch needs more than its plan's batch: the case this guards is gone";
}

}  // namespace
}  // namespace ae::cudatest
