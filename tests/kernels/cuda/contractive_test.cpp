// The contractive penalty of a one-layer encoder on cuda-sim against the cpu reference:
// ae::cuda::contractive_forward (s, row norms, value) against ae::cpu::contractive_forward and both
// backwards (overwrite and accumulate) against ae::cpu::contractive_backward_z / _w, for every
// activation, on shapes around the 64-row chunk and its 4-row groups, the 32-column partials block,
// the 32-lane norm loop and the 8-unit block, and past the value block's 256 threads. s's chunk
// partials are also pinned bit for bit to the order contractive.cuh documents (the order a fused
// epilogue must reproduce). The cpu sums in double, the kernels in float: the forward within
// tolerance<float>() over each sum's length; the gradients are elementwise shared math.
#include "kernels/cuda/contractive.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/contractive.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct ContractiveCase {
  Act act;
  int64_t M, N, K;
  uint64_t seed;

  std::string params(const char* op = "contractive") const {
    std::ostringstream os;
    os << op << "(act=" << act_name(act) << ",M=" << M << ",N=" << N << ",K=" << K << ",seed=" << seed << ")";
    return os.str();
  }
  int64_t chunks() const { return ae::cuda::contractive_chunks(M); }
  double flops() const { return 4.0 * M * N + 2.0 * N * K; }                 // forward: a′², adds; squares, adds
  double bytes() const { return 4.0 * (M * N + N * K + 2 * chunks() * N); }  // forward: z, W, partials
};
void PrintTo(const ContractiveCase& c, std::ostream* os) {
  *os << c.params();
}

// z: signed, with exact zeros (relu's kink) and a few values past softplus's threshold (its linear
// branch). W: signed.
std::vector<float> pre_activation(const ContractiveCase& c) {
  std::vector<float> z = uniform(size_t(c.M * c.N), -3, 3, c.seed, 1);
  for (size_t i = 0; i < z.size(); ++i) {
    if (i % 7 == 3) z[i] = 0.0f;
    if (i % 13 == 7) z[i] = 25.0f;
  }
  // A one-element case must not be vacuous: relu needs a′ ≠ 0 there (z > 0), elu and selu a″ ≠ 0
  // (z < 0); every other activation has both at −0.5.
  if (!z.empty()) z[0] = c.act == Act::relu ? 0.5f : -0.5f;
  return z;
}
std::vector<float> weight(const ContractiveCase& c) {
  return uniform(size_t(c.N * c.K), -1, 1, c.seed, 2);
}

double max_stat(Act act, const std::vector<float>& z) {
  double m = 0;
  for (float e : z) m = std::max(m, double(contractive_stat(act, e)));
  return m;
}
double max_square(const std::vector<float>& w) {
  const double m = max_abs(w);
  return m * m;
}

struct FwdOut {
  std::vector<float> s, norms, value, partials;
};

FwdOut run_forward(const ContractiveCase& c, const std::vector<float>& z, const std::vector<float>& w) {
  DeviceBuffer<float> dz(z), dw(w), s(size_t(c.N)), norms(size_t(c.N)), value(1),
      ws(size_t(ae::cuda::contractive_workspace_floats(c.M, c.N, c.K)));
  name_for_memcheck(dz, "z"), name_for_memcheck(dw, "w"), name_for_memcheck(s, "s");
  name_for_memcheck(norms, "norms"), name_for_memcheck(value, "value"), name_for_memcheck(ws, "workspace");
  ae::cuda::contractive_forward<float>(c.act, dz.get(), dw.get(), c.M, c.N, c.K, s.get(), norms.get(), value.get(),
                                       ws.get(), nullptr);
  expect_guards(c.params("contractive_forward"), dz, dw, s, norms, value, ws);
  EXPECT_TRUE(bitwise_equal("z (only read)", dz.download(), z));
  EXPECT_TRUE(bitwise_equal("w (only read)", dw.download(), w));
  std::vector<float> partials = ws.download();
  partials.resize(size_t(c.chunks() * c.N));  // the workspace's 1-element floor when empty
  return {s.download(), norms.download(), value.download(), partials};
}

// dz (+)= the gradient on the device; dz0 is dz's prior content when accumulating.
std::vector<float> run_backward_z(const ContractiveCase& c, float dvalue, const std::vector<float>& z,
                                  const std::vector<float>& norms, const std::vector<float>* dz0) {
  DeviceBuffer<float> dv(std::vector<float>{dvalue}), dzin(z), n(norms), g(size_t(c.M * c.N));
  name_for_memcheck(dv, "dvalue"), name_for_memcheck(dzin, "z"), name_for_memcheck(n, "norms");
  name_for_memcheck(g, "dz");
  if (dz0) g.upload(*dz0);
  ae::cuda::contractive_backward_z<float>(c.act, dv.get(), dzin.get(), n.get(), c.M, c.N, g.get(), dz0 != nullptr,
                                          nullptr);
  expect_guards(c.params("contractive_backward_z"), dv, dzin, n, g);
  return g.download();
}

// dw (+)= the gradient on the device; dw0 is dw's prior content when accumulating.
std::vector<float> run_backward_w(const ContractiveCase& c, float dvalue, const std::vector<float>& w,
                                  const std::vector<float>& s, const std::vector<float>* dw0) {
  DeviceBuffer<float> dv(std::vector<float>{dvalue}), win(w), sd(s), g(size_t(c.N * c.K));
  name_for_memcheck(dv, "dvalue"), name_for_memcheck(win, "w"), name_for_memcheck(sd, "s");
  name_for_memcheck(g, "dw");
  if (dw0) g.upload(*dw0);
  ae::cuda::contractive_backward_w<float>(dv.get(), win.get(), sd.get(), c.M, c.N, c.K, g.get(), dw0 != nullptr,
                                          nullptr);
  expect_guards(c.params("contractive_backward_w"), dv, win, sd, g);
  return g.download();
}

class Contractive : public DeviceTestWithParam<ContractiveCase> {};

TEST_P(Contractive, ForwardMatchesCpuReference) {
  const ContractiveCase& c = GetParam();
  SCOPED_TRACE(c.params("contractive_forward"));
  const std::vector<float> z = pre_activation(c), w = weight(c);
  std::vector<float> s_ref(size_t(c.N)), norms_ref(size_t(c.N)), value_ref(1);
  cpu::contractive_forward<float>(c.act, z.data(), w.data(), c.M, c.N, c.K, s_ref.data(), norms_ref.data(),
                                  value_ref.data());
  const FwdOut got = run_forward(c, z, w);

  FailureDump dump(c.params("contractive_forward"));
  dump.add("z", z), dump.add("w", w), dump.add("s_ref", s_ref), dump.add("s", got.s);
  dump.add("norms_ref", norms_ref), dump.add("norms", got.norms);
  dump.add("value_ref", value_ref), dump.add("value", got.value);
  ASSERT_TRUE(nonzero("s_ref", s_ref));
  ASSERT_TRUE(nonzero("norms_ref", norms_ref));
  ASSERT_TRUE(nonzero("value_ref", value_ref));
  // s_j: M terms of at most max a′²; n_j: K terms of at most max W².
  EXPECT_TRUE(compare("s", got.s, s_ref, tolerance<float>(), c.M, max_stat(c.act, z)));
  EXPECT_TRUE(compare("norms", got.norms, norms_ref, tolerance<float>(), c.K, max_square(w)));
  // Every term of the value is ≥ 0, so its relative error is at most the worst unit's relative
  // errors of s_j (a float sum of M terms) and n_j (of K terms) together: scale |value|, length M + K.
  EXPECT_TRUE(compare("value", got.value, value_ref, tolerance<float>(), c.M + c.K, std::fabs(value_ref[0])));
}

TEST_P(Contractive, BackwardMatchesCpuReference) {
  const ContractiveCase& c = GetParam();
  SCOPED_TRACE(c.params("contractive_backward"));
  const std::vector<float> z = pre_activation(c), w = weight(c);
  // Both sides take the reference forward's s and norms: this compares the gradients alone.
  std::vector<float> s(size_t(c.N)), norms(size_t(c.N)), value(1);
  cpu::contractive_forward<float>(c.act, z.data(), w.data(), c.M, c.N, c.K, s.data(), norms.data(), value.data());
  const float dvalue = 0.75f;  // a term weight, not 1: the seed must scale the gradient
  const std::vector<float> dz0 = uniform(size_t(c.M * c.N), -1, 1, c.seed, 3);
  const std::vector<float> dw0 = uniform(size_t(c.N * c.K), -1, 1, c.seed, 4);
  std::vector<float> dz_ref(size_t(c.M * c.N)), dz_acc_ref = dz0, dw_ref(size_t(c.N * c.K)), dw_acc_ref = dw0;
  cpu::contractive_backward_z<float>(c.act, &dvalue, z.data(), norms.data(), c.M, c.N, dz_ref.data(), false);
  cpu::contractive_backward_z<float>(c.act, &dvalue, z.data(), norms.data(), c.M, c.N, dz_acc_ref.data(), true);
  cpu::contractive_backward_w<float>(&dvalue, w.data(), s.data(), c.M, c.N, c.K, dw_ref.data(), false);
  cpu::contractive_backward_w<float>(&dvalue, w.data(), s.data(), c.M, c.N, c.K, dw_acc_ref.data(), true);
  const std::vector<float> dz = run_backward_z(c, dvalue, z, norms, nullptr);
  const std::vector<float> dz_acc = run_backward_z(c, dvalue, z, norms, &dz0);
  const std::vector<float> dw = run_backward_w(c, dvalue, w, s, nullptr);
  const std::vector<float> dw_acc = run_backward_w(c, dvalue, w, s, &dw0);

  FailureDump dump(c.params("contractive_backward"));
  dump.add("z", z), dump.add("w", w), dump.add("s", s), dump.add("norms", norms);
  dump.add("dz0", dz0), dump.add("dz_ref", dz_ref), dump.add("dz", dz);
  dump.add("dz_acc_ref", dz_acc_ref), dump.add("dz_acc", dz_acc);
  dump.add("dw0", dw0), dump.add("dw_ref", dw_ref), dump.add("dw", dw);
  dump.add("dw_acc_ref", dw_acc_ref), dump.add("dw_acc", dw_acc);
  // linear, relu and leaky_relu have a″ = 0: their dz is exactly 0, which the NaN prefill still
  // tells from an unwritten element; the accumulated dz (dz0 + 0) is never all zero.
  if (act_has_curvature(c.act)) ASSERT_TRUE(nonzero("dz_ref", dz_ref));
  ASSERT_TRUE(nonzero("dz_acc_ref", dz_acc_ref));
  ASSERT_TRUE(nonzero("dw_ref", dw_ref));
  const double dz_scale = std::max(max_abs(dz_ref), 1e-30), dw_scale = max_abs(dw_ref);  // one gradient element
  EXPECT_TRUE(compare("dz", dz, dz_ref, same_math_tolerance<float>(), 1, dz_scale));
  EXPECT_TRUE(compare("dz accumulated", dz_acc, dz_acc_ref, same_math_tolerance<float>(), 1, dz_scale));
  EXPECT_TRUE(compare("dw", dw, dw_ref, same_math_tolerance<float>(), 1, dw_scale));
  EXPECT_TRUE(compare("dw accumulated", dw_acc, dw_acc_ref, same_math_tolerance<float>(), 1, dw_scale));
}

// contractive.cuh's order of s on the host, literally and with its own constants: chunk c, group g
// (rows 64c + 4g .. + 3), rows ≥ M skipped; every sum in float from 0 in ascending order.
std::vector<float> documented_partials(Act act, const std::vector<float>& x, int64_t M, int64_t N) {
  static_assert(ae::cuda::CONTRACTIVE_CHUNK_ROWS == 64, "the documented chunk is 64 rows: the fused epilogue relies on it");
  return documented_column_partials([&](float v) { return contractive_stat(act, v); }, x, M, N);
}

TEST_P(Contractive, SFollowsTheDocumentedOrderExactly) {
  const ContractiveCase& c = GetParam();
  SCOPED_TRACE(c.params("contractive_forward"));
  const std::vector<float> z = pre_activation(c), w = weight(c);
  const std::vector<float> part_ref = documented_partials(c.act, z, c.M, c.N);
  std::vector<float> s_ref(size_t(c.N), 0.0f);
  for (size_t k = 0; k < part_ref.size(); ++k) s_ref[k % size_t(c.N)] += part_ref[k];  // k = c·N + j: ascending c
  const FwdOut got = run_forward(c, z, w);

  FailureDump dump(c.params("contractive_partials"));
  dump.add("z", z), dump.add("partials_ref", part_ref), dump.add("partials", got.partials);
  dump.add("s_ref", s_ref), dump.add("s", got.s);
  ASSERT_TRUE(nonzero("partials_ref", part_ref));
  // Bit-equal on cuda-sim, whose libm is the reference's. On a GPU, CUDA's tanhf/expf differ from
  // glibc's by an ulp or two (seen on an H200: 1-ulp differences in 42 cases), so the order is
  // checked there within tolerance<float>() — the terms are squares, so the sum's relative error
  // stays that of its terms.
  EXPECT_TRUE(compare("partials", got.partials, part_ref, same_math_tolerance<float>(), 1, 1.0));
  EXPECT_TRUE(compare("s", got.s, s_ref, same_math_tolerance<float>(), 1, 1.0));
}

std::vector<ContractiveCase> contractive_cases() {
  // (M, N, K): one element; M part of a group / a chunk −1, ±0, +1 / two chunks and a group over;
  // N around the 32-column partials block and the 8-unit block (1, 7, 8, 9, 31, 33, 67); K around
  // the 32-lane norm loop (1, 31, 32, 33, 97) and odd primes. Every activation takes every shape.
  const struct {
    int64_t M, N, K;
  } shapes[] = {{1, 1, 1}, {5, 7, 31}, {63, 33, 32}, {64, 32, 33}, {65, 9, 1}, {130, 67, 97}, {3, 8, 257}, {131, 31, 5}};
  std::vector<ContractiveCase> v;
  uint64_t seed = 1;
  for (int a = 0; a < ACT_COUNT; ++a)
    for (const auto& sh : shapes) v.push_back({static_cast<Act>(a), sh.M, sh.N, sh.K, seed++});
  // Large odd shapes: many chunks (a long s), a unit count past the value block's 256 threads (each
  // thread then takes several units, in order), a long row for the norms.
  v.push_back({Act::gelu, 1031, 129, 263, seed++});
  v.push_back({Act::sigmoid, 4099, 7, 3, seed++});
  v.push_back({Act::tanh, 37, 1031, 65, seed++});
  v.push_back({Act::softplus, 200, 517, 1031, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Contractive, ::testing::ValuesIn(contractive_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// Two runs under different sim schedules give the same bits: no atomics, no schedule-dependent order.
class ContractiveDeterminism : public DeviceTest {};
TEST_F(ContractiveDeterminism, TwoSchedulesBitEqual) {
  for (const ContractiveCase& c : {ContractiveCase{Act::sigmoid, 257, 67, 97, 90},
                                   ContractiveCase{Act::elu, 130, 517, 33, 91}}) {
    SCOPED_TRACE(c.params());
    const std::vector<float> z = pre_activation(c), w = weight(c);
    FwdOut a, b;
    std::vector<float> dza, dzb, dwa, dwb;
    const auto run = [&](FwdOut& f, std::vector<float>& dz, std::vector<float>& dw) {
      f = run_forward(c, z, w);
      dz = run_backward_z(c, 0.75f, z, f.norms, nullptr);
      dw = run_backward_w(c, 0.75f, w, f.s, nullptr);
    };
    with_sim_seed(101, [&] { run(a, dza, dwa); });
    with_sim_seed(202, [&] { run(b, dzb, dwb); });
    ASSERT_TRUE(nonzero("value", a.value));
    EXPECT_TRUE(bitwise_equal("s", a.s, b.s));
    EXPECT_TRUE(bitwise_equal("norms", a.norms, b.norms));
    EXPECT_TRUE(bitwise_equal("value", a.value, b.value));
    EXPECT_TRUE(bitwise_equal("dz", dza, dzb));
    EXPECT_TRUE(bitwise_equal("dw", dwa, dwb));
  }
}

class ContractiveEdge : public DeviceTest {};

TEST_F(ContractiveEdge, WorkspaceSize) {
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(0, 0, 0), 1);
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(0, 5, 3), 1);
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(7, 0, 3), 1);
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(1, 3, 0), 3);
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(64, 3, 9), 3);
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(65, 3, 9), 6);
  EXPECT_EQ(ae::cuda::contractive_workspace_floats(257, 67, 1000), 5 * 67);
}

// M = 0: s 0, value 0, norms still the rows' (the reference's); N = 0: value 0; K = 0: norms 0 and
// value 0 with s as usual. The backwards match the reference: an empty side writes nothing, an
// empty batch gives backward_w a zero gradient (a zero penalty).
TEST_F(ContractiveEdge, EmptyDimensions) {
  const struct {
    int64_t M, N, K;
  } shapes[] = {{0, 5, 3}, {3, 0, 4}, {3, 5, 0}, {0, 0, 0}, {0, 3, 0}};
  for (const auto& sh : shapes) {
    const ContractiveCase c{Act::tanh, sh.M, sh.N, sh.K, 7};
    SCOPED_TRACE(c.params());
    const std::vector<float> z = pre_activation(c), w = weight(c);
    const FwdOut got = run_forward(c, z, w);
    std::vector<float> s_ref(size_t(c.N), NAN), norms_ref(size_t(c.N), NAN), value_ref(1, NAN);
    cpu::contractive_forward<float>(c.act, z.data(), w.data(), c.M, c.N, c.K, s_ref.data(), norms_ref.data(),
                                    value_ref.data());
    EXPECT_TRUE(compare("s", got.s, s_ref, same_math_tolerance<float>(), 1, 1.0));
    EXPECT_TRUE(compare("norms", got.norms, norms_ref, tolerance<float>(), c.K, max_square(w)));  // float vs double
    EXPECT_TRUE(bitwise_equal("value is 0", got.value, {0.0f}));

    DeviceBuffer<float> dv(std::vector<float>{1.0f}), zd(z), n(got.norms), sd(got.s), wd(w),
        dz(size_t(c.M * c.N) + 1), dw(size_t(c.N * c.K) + 1);
    ae::cuda::contractive_backward_z<float>(c.act, dv.get(), zd.get(), n.get(), c.M, c.N, dz.get(), false, nullptr);
    ae::cuda::contractive_backward_w<float>(dv.get(), wd.get(), sd.get(), c.M, c.N, c.K, dw.get(), false, nullptr);
    // The references on NaN-filled host copies one element longer: an empty side stays NaN, the
    // element past the end always does.
    std::vector<float> dz_ref(size_t(c.M * c.N) + 1, NAN), dw_ref(size_t(c.N * c.K) + 1, NAN);
    const float one = 1.0f;
    cpu::contractive_backward_z<float>(c.act, &one, z.data(), got.norms.data(), c.M, c.N, dz_ref.data(), false);
    cpu::contractive_backward_w<float>(&one, w.data(), got.s.data(), c.M, c.N, c.K, dw_ref.data(), false);
    EXPECT_TRUE(compare("dz", dz.download(), dz_ref, same_math_tolerance<float>(), 1, 1.0));
    EXPECT_TRUE(compare("dw", dw.download(), dw_ref, same_math_tolerance<float>(), 1, 1.0));
    expect_guards("contractive_backward empty", dv, zd, n, sd, wd, dz, dw);
  }
}

TEST_F(ContractiveEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> z(6), w(12), s(3), n(3), value(1), ws(3), dv(std::vector<float>{1.0f}), dz(6), dw(12);
  auto fwd = [&](Act act, int64_t M, int64_t N, int64_t K, const float* zp, const float* wp, float* sp, float* np,
                 float* vp, float* wsp) {
    ae::cuda::contractive_forward<float>(act, zp, wp, M, N, K, sp, np, vp, wsp, nullptr);
  };
  auto bz = [&](Act act, int64_t M, int64_t N, const float* dvp, const float* zp, const float* np, float* dzp) {
    ae::cuda::contractive_backward_z<float>(act, dvp, zp, np, M, N, dzp, false, nullptr);
  };
  auto bw = [&](int64_t M, int64_t N, int64_t K, const float* dvp, const float* wp, const float* sp, float* dwp) {
    ae::cuda::contractive_backward_w<float>(dvp, wp, sp, M, N, K, dwp, true, nullptr);
  };
  const Act t = Act::tanh, bad = static_cast<Act>(ACT_COUNT);
  EXPECT_THROW(fwd(bad, 2, 3, 4, z.get(), w.get(), s.get(), n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(static_cast<Act>(200), 2, 3, 4, z.get(), w.get(), s.get(), n.get(), value.get(), ws.get()),
               ae::Error);
  EXPECT_THROW(fwd(t, -1, 3, 4, z.get(), w.get(), s.get(), n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, -3, 4, z.get(), w.get(), s.get(), n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, -4, z.get(), w.get(), s.get(), n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, 4, nullptr, w.get(), s.get(), n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, 4, z.get(), nullptr, s.get(), n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, 4, z.get(), w.get(), nullptr, n.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, 4, z.get(), w.get(), s.get(), nullptr, value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, 4, z.get(), w.get(), s.get(), n.get(), nullptr, ws.get()), ae::Error);
  EXPECT_THROW(fwd(t, 2, 3, 4, z.get(), w.get(), s.get(), n.get(), value.get(), nullptr), ae::Error);
  EXPECT_THROW(fwd(t, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), ae::Error);  // value is always written
  // A refused call launched nothing: every output still holds its NaN prefill.
  for (const auto* b : {&s, &n, &value, &ws})
    for (float e : b->download()) EXPECT_TRUE(std::isnan(e)) << "a refused forward wrote";

  EXPECT_THROW(bz(bad, 2, 3, dv.get(), z.get(), n.get(), dz.get()), ae::Error);
  EXPECT_THROW(bz(t, -2, 3, dv.get(), z.get(), n.get(), dz.get()), ae::Error);
  EXPECT_THROW(bz(t, 2, -3, dv.get(), z.get(), n.get(), dz.get()), ae::Error);
  EXPECT_THROW(bz(t, 2, 3, nullptr, z.get(), n.get(), dz.get()), ae::Error);
  EXPECT_THROW(bz(t, 2, 3, dv.get(), nullptr, n.get(), dz.get()), ae::Error);
  EXPECT_THROW(bz(t, 2, 3, dv.get(), z.get(), nullptr, dz.get()), ae::Error);
  EXPECT_THROW(bz(t, 2, 3, dv.get(), z.get(), n.get(), nullptr), ae::Error);

  EXPECT_THROW(bw(-2, 3, 4, dv.get(), w.get(), s.get(), dw.get()), ae::Error);
  EXPECT_THROW(bw(2, -3, 4, dv.get(), w.get(), s.get(), dw.get()), ae::Error);
  EXPECT_THROW(bw(2, 3, -4, dv.get(), w.get(), s.get(), dw.get()), ae::Error);
  EXPECT_THROW(bw(2, 3, 4, nullptr, w.get(), s.get(), dw.get()), ae::Error);
  EXPECT_THROW(bw(2, 3, 4, dv.get(), nullptr, s.get(), dw.get()), ae::Error);
  EXPECT_THROW(bw(2, 3, 4, dv.get(), w.get(), nullptr, dw.get()), ae::Error);
  EXPECT_THROW(bw(2, 3, 4, dv.get(), w.get(), s.get(), nullptr), ae::Error);
  for (const auto* b : {&dz, &dw})
    for (float e : b->download()) EXPECT_TRUE(std::isnan(e)) << "a refused backward wrote";
}

#if AE_CUDATEST_SIM
// The kernels run under memcheck with their buffers named: z or W read one element too far (the
// whole tensor shifted by one) is reported, not silently taken from the guard bytes.
class ContractiveMemcheck : public DeviceTest {};
TEST_F(ContractiveMemcheck, AReadPastZOrWIsReported) {
  if (!ae::sim::checks_instrumented()) GTEST_SKIP() << "memcheck needs the instrumented build (not the ASan one)";
  const unsigned saved = ae::sim::checks();
  ae::sim::set_checks(ae::sim::check_all);
  const ContractiveCase c{Act::sigmoid, 65, 3, 33, 5};
  DeviceBuffer<float> z(pre_activation(c)), w(weight(c)), s(size_t(c.N)), n(size_t(c.N)), value(1),
      ws(size_t(ae::cuda::contractive_workspace_floats(c.M, c.N, c.K))), dv(std::vector<float>{1.0f}),
      dz(size_t(c.M * c.N)), dw(size_t(c.N * c.K));
  name_for_memcheck(z, "z"), name_for_memcheck(w, "w"), name_for_memcheck(s, "s"), name_for_memcheck(n, "norms");
  name_for_memcheck(value, "value"), name_for_memcheck(ws, "workspace"), name_for_memcheck(dv, "dvalue");
  name_for_memcheck(dz, "dz"), name_for_memcheck(dw, "dw");
  const auto error_of = [](auto&& f) {
    try {
      f();
    } catch (const ae::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string fwd_z = error_of([&] {
    ae::cuda::contractive_forward<float>(c.act, z.get() + 1, w.get(), c.M, c.N, c.K, s.get(), n.get(), value.get(),
                                         ws.get(), nullptr);
  });
  const std::string fwd_w = error_of([&] {
    ae::cuda::contractive_forward<float>(c.act, z.get(), w.get() + 1, c.M, c.N, c.K, s.get(), n.get(), value.get(),
                                         ws.get(), nullptr);
  });
  const std::string bwd_z = error_of([&] {
    ae::cuda::contractive_backward_z<float>(c.act, dv.get(), z.get() + 1, n.get(), c.M, c.N, dz.get(), false, nullptr);
  });
  const std::string bwd_w = error_of([&] {
    ae::cuda::contractive_backward_w<float>(dv.get(), w.get() + 1, s.get(), c.M, c.N, c.K, dw.get(), false, nullptr);
  });
  ae::sim::set_checks(saved);
  for (const auto& [what, buffer] : {std::pair{fwd_z, "buffer 'z'"}, std::pair{fwd_w, "buffer 'w'"},
                                     std::pair{bwd_z, "buffer 'z'"}, std::pair{bwd_w, "buffer 'w'"}}) {
    EXPECT_NE(what.find("memcheck: invalid 4-byte read"), std::string::npos) << what;
    EXPECT_NE(what.find(buffer), std::string::npos) << what;
  }
}
#endif

}  // namespace
}  // namespace ae::cudatest
