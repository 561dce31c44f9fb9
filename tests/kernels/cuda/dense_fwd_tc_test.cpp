// ae::cuda::dense_forward_tc (tensor cores, fp16/bf16/tf32) on cuda-sim against the fp64 reference of
// lowp_reference.h: both tiles (64×64, 32×32) over tile-edge and prime shapes (K-steps of 32, fragment
// depth 16 or 8), an exact mode on small integers (z bit-equal after its rounding to the type), every
// activation on random inputs, and the default model's first layer. Each case is one registry line.
#include "kernels/cuda/dense_fwd_tc.cuh"

#include <gtest/gtest.h>

#include <array>
#include <sstream>

#include "tests/kernels/cuda/harness.h"
#include "tests/kernels/cuda/lowp_reference.h"

namespace ae::cudatest {
namespace {

using ae::cuda::TcTile;

const char* tile_name(TcTile t) { return ae::cuda::tc_tile_name(t); }

struct DenseFwdTcCase {
  Lowp dtype;
  Act act;
  int64_t M, N, K;
  TcTile tile = TcTile::automatic;
  bool bias = true, keep_z = true;
  bool exact = false;  // small-integer inputs: z bit-equal (after its rounding), y too for piecewise-linear acts
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << "dense_fwd_tc(dtype=" << cpu::lowp_name(dtype) << ",act=" << act_name(act) << ",tile=" << tile_name(tile)
       << ",M=" << M << ",N=" << N << ",K=" << K << ",bias=" << bias << ",z=" << keep_z << (exact ? ",exact" : "")
       << ",seed=" << seed << ")";
    return os.str();
  }
  double flops() const { return 2.0 * M * N * K; }
  double bytes() const {
    const double e = dtype == Lowp::tf32 ? 4 : 2;
    return e * (M * K + N * K + M * N * (keep_z ? 2 : 1)) + 4.0 * N;
  }
};

// The inputs as the storage type holds them (x, w) and the fp32 bias.
struct DenseFwdTcInputs {
  std::vector<float> x, w, b;
  explicit DenseFwdTcInputs(const DenseFwdTcCase& c) {
    if (c.exact) {
      x = small_ints(c.M * c.K, -3, 3, c.seed, 1);
      w = small_ints(c.N * c.K, -3, 3, c.seed, 2);
      b = small_ints(c.N, -8, 8, c.seed, 3);
    } else {
      x = stored(c.dtype, uniform(c.M * c.K, -1, 1, c.seed, 1));
      w = stored(c.dtype, uniform(c.N * c.K, -1, 1, c.seed, 2));
      b = uniform(c.N, -0.5f, 0.5f, c.seed, 3);
    }
  }
};

struct DenseFwdTcOut {
  std::vector<float> y, z;
};

DenseFwdTcOut run_cuda(const DenseFwdTcCase& c, const DenseFwdTcInputs& in) {
  return with_lowp(c.dtype, [&](auto t) {
    constexpr Lowp T = decltype(t)::value;
    using IN = Storage<T>;
    DeviceBuffer<IN> x(to_storage<T>(in.x)), w(to_storage<T>(in.w)), y(c.M * c.N), z(c.M * c.N);
    DeviceBuffer<float> b(in.b);
    name_for_memcheck(x, "x"), name_for_memcheck(w, "w"), name_for_memcheck(b, "b");
    name_for_memcheck(y, "y"), name_for_memcheck(z, "z");
    ae::cuda::dense_forward_tc<IN>(x.get(), w.get(), c.bias ? b.get() : nullptr, c.act, c.M, c.N, c.K, y.get(),
                                   c.keep_z ? z.get() : nullptr, nullptr, c.tile);
    expect_guards(c.params(), x, w, b, y, z);
    return DenseFwdTcOut{from_storage<T>(y.download()), c.keep_z ? from_storage<T>(z.download()) : std::vector<float>{}};
  });
}

bool piecewise_linear(Act a) {
  return a == Act::linear || a == Act::relu || a == Act::leaky_relu;
}

class DenseFwdTc : public DeviceTestWithParam<DenseFwdTcCase> {};

TEST_P(DenseFwdTc, MatchesLowpReference) {
  const DenseFwdTcCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const DenseFwdTcInputs in(c);
  std::vector<float> y_ref, z_ref;
  lowp_dense_forward(c.dtype, in.x, in.w, c.bias ? &in.b : nullptr, c.act, c.M, c.N, c.K, y_ref, z_ref);
  const DenseFwdTcOut got = run_cuda(c, in);

  FailureDump dump(c.params());
  dump.add("x", in.x), dump.add("w", in.w), dump.add("b", in.b);
  dump.add("y_ref", y_ref), dump.add("y", got.y), dump.add("z_ref", z_ref), dump.add("z", got.z);
  ASSERT_TRUE(nonzero("z_ref", z_ref));
  ASSERT_TRUE(finite("z_ref", z_ref));
  const double scale = max_abs(operands(c.dtype, in.x)) * max_abs(operands(c.dtype, in.w));
  const Tolerance tol = tc_tolerance(c.dtype, true, false);
  const Tolerance y_tol = c.exact && piecewise_linear(c.act) ? exact_tolerance() : tol;
  EXPECT_TRUE(compare("y", got.y, y_ref, y_tol, c.K, scale));
  if (c.keep_z) EXPECT_TRUE(compare("z", got.z, z_ref, c.exact ? exact_tolerance() : tol, c.K, scale));
}

std::vector<DenseFwdTcCase> dense_fwd_tc_cases() {
  std::vector<DenseFwdTcCase> v;
  uint64_t seed = 1;
  for (int d = 0; d < cpu::LOWP_COUNT; ++d) {
    const Lowp t = static_cast<Lowp>(d);
    // Exact mode over the edges of both tiles (M, N around 16, 32, 64), the K-step of 32 and the
    // fragment depths (16; 8 for tf32), with odd primes between. Sums reach ~3000: past bf16's
    // 256 and fp16's 2048, so z's rounding to the type (to nearest even) is checked bit for bit too.
    for (TcTile tile : {TcTile::t32, TcTile::t64})
      for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1},     {15, 17, 16},  {16, 16, 33},
                                                                 {17, 15, 8},   {31, 33, 9},   {33, 31, 7},
                                                                 {63, 65, 31},  {64, 64, 64},  {65, 63, 97},
                                                                 {129, 17, 17}, {13, 129, 15}, {47, 67, 331}})
        v.push_back({t, (seed % 2) ? Act::relu : Act::linear, M, N, K, tile, seed % 5 != 0, seed % 3 != 0, true, seed++});
    // The 32×32-warp tiles (64×64 of 4 warps, 128×64 of 8): their edges (63..65, 127..129), a
    // K-step tail and a K below one fragment, exact.
    for (TcTile tile : {TcTile::t64_w4, TcTile::t128})
      for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {65, 63, 97}, {127, 65, 33}, {129, 31, 7}})
        v.push_back({t, (seed % 2) ? Act::relu : Act::linear, M, N, K, tile, seed % 5 != 0, seed % 3 != 0, true, seed++});
    // Every activation, random inputs, odd prime-ish shapes, every tile; with and without z and bias.
    constexpr TcTile TILES[] = {TcTile::t32, TcTile::t64, TcTile::t64_w4, TcTile::t128};
    for (int a = 0; a < ACT_COUNT; ++a)
      v.push_back({t, static_cast<Act>(a), 37, 67, 61, TILES[a % 4], a % 3 != 0, a % 4 != 1, false, seed++});
    v.push_back({t, Act::relu, 5, 3, 0, TcTile::t32, true, true, false, seed++});    // K = 0: y = act(b)
    v.push_back({t, Act::relu, 70, 31, 1, TcTile::t64, true, true, true, seed++});  // K = 1
  }
  // The default model's first layer at batch 256 (784-256r-...), exact, the tile the launcher picks.
  for (int d = 0; d < cpu::LOWP_COUNT; ++d)
    v.push_back({static_cast<Lowp>(d), Act::relu, 256, 256, 784, TcTile::automatic, true, true, true, 99});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, DenseFwdTc, ::testing::ValuesIn(dense_fwd_tc_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// Two runs under different sim schedules (thread orders between barriers) give the same bits.
class DenseFwdTcDeterminism : public DeviceTest {};
TEST_F(DenseFwdTcDeterminism, TwoSchedulesBitEqual) {
  for (const DenseFwdTcCase& c : {DenseFwdTcCase{Lowp::bf16, Act::gelu, 65, 67, 41, TcTile::t64, true, true, false, 21},
                                  DenseFwdTcCase{Lowp::tf32, Act::tanh, 33, 17, 45, TcTile::t32, false, true, false, 22}}) {
    SCOPED_TRACE(c.params());
    const DenseFwdTcInputs in(c);
    DenseFwdTcOut a, b;
    with_sim_seed(101, [&] { a = run_cuda(c, in); });
    with_sim_seed(202, [&] { b = run_cuda(c, in); });
    ASSERT_TRUE(nonzero("y", a.y));
    EXPECT_TRUE(bitwise_equal("y", a.y, b.y));
    EXPECT_TRUE(bitwise_equal("z", a.z, b.z));
  }
}

// The tf32 configurations the timing tool compares (dense_forward_tc_tf32_variant) multiply the same
// tf32 operands in the same k order per output as the launcher's: bit-equal results, exact inputs
// or not.
class DenseFwdTcTf32Variants : public DeviceTest {};
TEST_F(DenseFwdTcTf32Variants, BitEqualToTheLauncher) {
  using ae::cuda::TcTf32Variant;
  const DenseFwdTcCase c{Lowp::tf32, Act::relu, 67, 45, 70, TcTile::t32, true, true, false, 23};
  const DenseFwdTcInputs in(c);
  const DenseFwdTcOut ref = run_cuda(c, in);
  ASSERT_TRUE(nonzero("y", ref.y));
  const std::vector<float> xs = to_storage<Lowp::tf32>(in.x), ws = to_storage<Lowp::tf32>(in.w);
  DeviceBuffer<float> x(xs), w(ws), b(in.b);
  for (TcTf32Variant v : {TcTf32Variant::r2_32, TcTf32Variant::r2_64, TcTf32Variant::late_32, TcTf32Variant::split_32,
                          TcTf32Variant::late_split_32, TcTf32Variant::late_split_64, TcTf32Variant::deep_32,
                          TcTf32Variant::deep_64}) {
    SCOPED_TRACE(int(v));
    DeviceBuffer<float> y(c.M * c.N), z(c.M * c.N);  // NaN-prefilled
    ae::cuda::dense_forward_tc_tf32_variant(x.get(), w.get(), b.get(), c.act, c.M, c.N, c.K, y.get(), z.get(), nullptr, v);
    EXPECT_TRUE(bitwise_equal("y", y.download(), ref.y));
    EXPECT_TRUE(bitwise_equal("z", z.download(), ref.z));
  }
}

class DenseFwdTcEdge : public DeviceTest {};
TEST_F(DenseFwdTcEdge, EmptyBatchWritesNothing) {
  DeviceBuffer<__nv_bfloat16> x(4), w(4), y(4);
  ae::cuda::dense_forward_tc<__nv_bfloat16>(x.get(), w.get(), nullptr, Act::relu, 0, 1, 4, y.get(), nullptr, nullptr);
  for (float e : from_storage<Lowp::bf16>(y.download())) EXPECT_TRUE(std::isnan(e));  // untouched prefill
}

TEST_F(DenseFwdTcEdge, BadArgumentsAreErrors) {
  DeviceBuffer<__half> x(4), w(4), y(4);
  EXPECT_THROW(ae::cuda::dense_forward_tc<__half>(x.get(), w.get(), nullptr, Act::relu, -1, 1, 4, y.get(), nullptr, nullptr),
               ae::Error);
  EXPECT_THROW(ae::cuda::dense_forward_tc<__half>(x.get(), w.get(), nullptr, Act::relu, 1, 1, 4, nullptr, nullptr, nullptr),
               ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
