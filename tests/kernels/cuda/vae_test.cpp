// The VAE code layer on cuda-sim against the cpu reference: ae::cuda::reparam_forward (z, per-row
// KL, mean KL; sampling, mean code, sampled KL) against ae::cpu::reparam_forward and
// ae::cuda::reparam_backward (overwrite and accumulate; without dz, without dvalue) against
// ae::cpu::reparam_backward, on shapes around the one-warp row (N = 1, 2, 20, 33 units) and the
// 8-row block (M = 1, 31, 33, 130, 257), with data-row offsets past 2^32 and scoring steps. Both
// sides evaluate kernels/common/vae.h and sum in its documented order: bit-equal under cuda-sim,
// same_math_tolerance on a GPU. Also: the step block's seed, step and row offset are read on the
// device, two schedules give the same bits, M = 0, refused arguments, memcheck of a stray read.
#include "kernels/cuda/vae.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/vae.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

const char* mode_name(const VaeParams& p) {
  return p.sample ? (p.sampled_kl ? "sampled_kl" : "sample") : (p.sampled_kl ? "mean_sampled_kl" : "mean");
}

// The step block of one step, on the device and named for memcheck.
struct DeviceSteps {
  DeviceBuffer<StepScalars> buf;
  static StepScalars make(uint64_t seed, uint64_t step, uint64_t row_offset) {
    StepScalars s{};
    s.step = int64_t(step), s.seed = seed, s.row_offset = row_offset, s.loss_scale = 1;
    return s;
  }
  DeviceSteps(uint64_t seed, uint64_t step, uint64_t row_offset)
      : buf(std::vector<StepScalars>{make(seed, step, row_offset)}) {
    name_for_memcheck(buf, "steps");
  }
  const StepScalars* get() const { return buf.get(); }
};

// Which seeds reach the backward: both, no dz (the code is unused past the KL), no dvalue (β = 0).
enum class Seeds { both, no_dz, no_dvalue };
const char* seeds_name(Seeds s) {
  return s == Seeds::both ? "dz+dvalue" : s == Seeds::no_dz ? "dvalue" : "dz";
}

struct VaeCase {
  VaeParams p;
  int64_t M, N;
  uint64_t seed, step, row_offset;
  Seeds seeds = Seeds::both;  // backward only
  bool with_value = true;     // forward: value requested (else nullptr)

  std::string params(const char* op) const {
    std::ostringstream os;
    os << op << "(mode=" << mode_name(p) << ",M=" << M << ",N=" << N << ",seed=" << seed << ",step=" << step
       << ",row_offset=" << row_offset;
    if (std::string(op) == "reparam_bwd") os << ",seeds=" << seeds_name(seeds);
    if (std::string(op) == "reparam_fwd" && !with_value) os << ",no_value";
    return os.str() + ")";
  }
  // A Philox draw (~100 integer ops) plus log/cos/exp per unit; reads h, writes z (and kl).
  double flops() const { return 120.0 * M * N; }
  double bytes() const { return 4.0 * (3 * M * N + M); }
};
void PrintTo(const VaeCase& c, std::ostream* os) {
  *os << c.params("reparam");
}

// h [M, 2N]: μ in [−2, 2], ℓ in [−3, 1.5].
std::vector<float> head(const VaeCase& c) {
  const std::vector<float> mu = uniform(size_t(c.M * c.N), -2, 2, c.seed, 1);
  const std::vector<float> lv = uniform(size_t(c.M * c.N), -3, 1.5f, c.seed, 2);
  std::vector<float> h(size_t(c.M * 2 * c.N));
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t j = 0; j < c.N; ++j) {
      h[size_t(m * 2 * c.N + j)] = mu[size_t(m * c.N + j)];
      h[size_t(m * 2 * c.N + c.N + j)] = lv[size_t(m * c.N + j)];
    }
  return h;
}

struct FwdOut {
  std::vector<float> z, kl, value;
};

FwdOut cpu_forward(const VaeCase& c, const std::vector<float>& h) {
  FwdOut r{std::vector<float>(size_t(c.M * c.N), NAN), std::vector<float>(size_t(c.M), NAN), {NAN}};
  cpu::reparam_forward<float>(c.p, c.seed, c.step, c.row_offset, h.data(), c.M, c.N, r.z.data(), r.kl.data(),
                              r.value.data());
  return r;
}

FwdOut cuda_forward(const VaeCase& c, const std::vector<float>& h) {
  const DeviceSteps steps(c.seed, c.step, c.row_offset);
  DeviceBuffer<float> dh(h), z(size_t(c.M * c.N)), kl(size_t(c.M)), value(1);  // outputs NaN-prefilled
  name_for_memcheck(dh, "h"), name_for_memcheck(z, "z"), name_for_memcheck(kl, "kl"), name_for_memcheck(value, "value");
  ae::cuda::reparam_forward(c.p, steps.get(), dh.get(), c.M, c.N, z.get(), kl.get(),
                            c.with_value ? value.get() : nullptr, nullptr);
  expect_guards(c.params("reparam_fwd"), dh, z, kl, value, steps.buf);
  EXPECT_TRUE(bitwise_equal("h (only read)", dh.download(), h));
  return {z.download(), kl.download(), value.download()};
}

// A KL unit's term size (|1| + |ℓ| + μ² + e^ℓ, or z² + ε² + |ℓ|, bounded alike): the tolerance scale.
double kl_term_scale(const std::vector<float>& h, const std::vector<float>& z) {
  double m = 0;
  for (float e : h) m = std::max(m, double(e) * e + std::exp(double(e)));
  return 1 + m + 2 * max_abs(z) * max_abs(z);
}

class Reparam : public DeviceTestWithParam<VaeCase> {};

TEST_P(Reparam, ForwardMatchesCpuReference) {
  const VaeCase& c = GetParam();
  SCOPED_TRACE(c.params("reparam_fwd"));
  const std::vector<float> h = head(c);
  const FwdOut ref = cpu_forward(c, h), got = cuda_forward(c, h);

  FailureDump dump(c.params("reparam_fwd"));
  dump.add("h", h), dump.add("z_ref", ref.z), dump.add("z", got.z), dump.add("kl_ref", ref.kl), dump.add("kl", got.kl);
  dump.add("value_ref", ref.value), dump.add("value", got.value);
  ASSERT_TRUE(finite("z_ref", ref.z));
  ASSERT_TRUE(nonzero("z_ref", ref.z));
  ASSERT_TRUE(nonzero("kl_ref", ref.kl));
  ASSERT_TRUE(nonzero("value_ref", ref.value));
  const Tolerance tol = same_math_tolerance<float>();
  const double term = kl_term_scale(h, ref.z);
  EXPECT_TRUE(compare("z", got.z, ref.z, tol, 1, max_abs(ref.z)));
  EXPECT_TRUE(compare("kl", got.kl, ref.kl, tol, c.N, term));
  if (c.with_value)
    EXPECT_TRUE(compare("value", got.value, ref.value, tol, c.M * c.N, term / double(c.M)));
  else
    EXPECT_TRUE(std::isnan(got.value[0])) << "value was written although it was not asked for";
}

// dh (+)= the gradient on the device; dh0 is dh's prior content when accumulating.
std::vector<float> cuda_backward(const VaeCase& c, const std::vector<float>& h, const std::vector<float>& dz,
                                 float dvalue, const std::vector<float>* dh0) {
  const DeviceSteps steps(c.seed, c.step, c.row_offset);
  DeviceBuffer<float> dh_in(h), g(dz), dv(std::vector<float>{dvalue}), dh(h.size());
  name_for_memcheck(dh_in, "h"), name_for_memcheck(g, "dz"), name_for_memcheck(dv, "dvalue");
  name_for_memcheck(dh, "dh");
  if (dh0) dh.upload(*dh0);
  ae::cuda::reparam_backward(c.p, steps.get(), c.seeds == Seeds::no_dz ? nullptr : g.get(), dh_in.get(),
                             c.seeds == Seeds::no_dvalue ? nullptr : dv.get(), c.M, c.N, dh.get(), dh0 != nullptr,
                             nullptr);
  expect_guards(c.params("reparam_bwd"), dh_in, g, dv, dh, steps.buf);
  return dh.download();
}

class ReparamGrad : public DeviceTestWithParam<VaeCase> {};

TEST_P(ReparamGrad, BackwardMatchesCpuReference) {
  const VaeCase& c = GetParam();
  SCOPED_TRACE(c.params("reparam_bwd"));
  const std::vector<float> h = head(c), dz = uniform(size_t(c.M * c.N), -1, 1, c.seed, 3);
  const std::vector<float> dh0 = uniform(h.size(), -1, 1, c.seed, 4);
  const float dvalue = 0.75f;  // a term weight, not 1: the seed must scale the gradient
  const float* dzp = c.seeds == Seeds::no_dz ? nullptr : dz.data();
  const float* dvp = c.seeds == Seeds::no_dvalue ? nullptr : &dvalue;
  std::vector<float> ref(h.size(), NAN), ref_acc = dh0;
  cpu::reparam_backward<float>(c.p, c.seed, c.step, c.row_offset, dzp, h.data(), dvp, c.M, c.N, ref.data(), false);
  cpu::reparam_backward<float>(c.p, c.seed, c.step, c.row_offset, dzp, h.data(), dvp, c.M, c.N, ref_acc.data(), true);
  const std::vector<float> got = cuda_backward(c, h, dz, dvalue, nullptr);
  const std::vector<float> got_acc = cuda_backward(c, h, dz, dvalue, &dh0);

  FailureDump dump(c.params("reparam_bwd"));
  dump.add("h", h), dump.add("dz", dz), dump.add("dh0", dh0);
  dump.add("dh_ref", ref), dump.add("dh", got), dump.add("dh_acc_ref", ref_acc), dump.add("dh_acc", got_acc);
  ASSERT_TRUE(finite("dh_ref", ref));
  ASSERT_TRUE(nonzero("dh_ref", ref));
  const Tolerance tol = same_math_tolerance<float>();
  const double scale = max_abs(ref);  // one gradient element
  EXPECT_TRUE(compare("dh", got, ref, tol, 1, scale));
  EXPECT_TRUE(compare("dh accumulated", got_acc, ref_acc, tol, 1, scale));
}

constexpr VaeParams SAMPLE{true, false}, MEAN{false, false}, SAMPLED_KL{true, true}, MEAN_SAMPLED_KL{false, true};

std::vector<VaeCase> forward_cases() {
  // M: one row, the 8-row block ±1 around 32, many blocks with a partial last one. N: one lane, a
  // few lanes, most of a warp, a warp and a unit (lane 0 takes two units). Row offsets past 2^32
  // (the index (row_offset + m)·N + j needs 64 bits) and scoring steps on some of them.
  std::vector<VaeCase> v;
  uint64_t seed = 1;
  for (int64_t M : {1, 31, 33, 130, 257})
    for (int64_t N : {1, 2, 20, 33}) {
      const uint64_t offset = seed % 3 == 0 ? (uint64_t(1) << 32) + 7 : seed * 17;
      const uint64_t step = seed % 2 ? seed : VAE_SCORE_STEP + seed;
      for (const VaeParams& p : {SAMPLE, MEAN, SAMPLED_KL}) v.push_back({p, M, N, seed, step, offset}), ++seed;
    }
  v.push_back({MEAN_SAMPLED_KL, 33, 20, seed++, 5, 3});
  v.push_back({SAMPLE, 130, 33, seed++, 9, 0, Seeds::both, false});  // value not requested
  v.push_back({SAMPLE, 37, 517, seed++, 2, 11});                     // wide code: 17 units a lane
  return v;
}

std::vector<VaeCase> backward_cases() {
  std::vector<VaeCase> v;
  uint64_t seed = 101;
  for (int64_t M : {1, 31, 33, 130, 257})
    for (int64_t N : {1, 2, 20, 33}) {
      const uint64_t offset = seed % 3 == 0 ? (uint64_t(1) << 32) + 7 : seed * 17;
      for (Seeds s : {Seeds::both, Seeds::no_dz, Seeds::no_dvalue})
        v.push_back({SAMPLE, M, N, seed, seed * 3 + 1, offset, s}), ++seed;
    }
  // Past one grid-stride lap of the capped grid (4096 blocks of 256 threads).
  v.push_back({SAMPLE, 4099, 257, seed++, 4, 1, Seeds::both});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Reparam, ::testing::ValuesIn(forward_cases()),
                         [](const auto& info) { return test_name(info.param.params("reparam_fwd")); });
INSTANTIATE_TEST_SUITE_P(Cases, ReparamGrad, ::testing::ValuesIn(backward_cases()),
                         [](const auto& info) { return test_name(info.param.params("reparam_bwd")); });

size_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = a.size() == b.size() ? 0 : std::max(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

// The kernels read seed, step and row offset from the block on the device, and each changes ε:
// the forward's z and the backward's dℓ both follow the reference's key, not a stale one.
class ReparamKey : public DeviceTest {};
TEST_F(ReparamKey, SeedStepAndRowOffsetEachChangeTheDraw) {
  const VaeCase base{SAMPLE, 33, 20, 5, 10, 100};
  const std::vector<float> h = head(base), dz = uniform(size_t(base.M * base.N), -1, 1, 5, 3);
  const FwdOut f0 = cuda_forward(base, h);
  const std::vector<float> g0 = cuda_backward(base, h, dz, 0.5f, nullptr);
  VaeCase by_seed = base, by_step = base, by_row = base;
  by_seed.seed += 1, by_step.step += 1, by_row.row_offset += 1;
  for (const VaeCase& c : {by_seed, by_step, by_row}) {
    SCOPED_TRACE(c.params("reparam"));
    const FwdOut f = cuda_forward(c, h);
    const std::vector<float> g = cuda_backward(c, h, dz, 0.5f, nullptr);
    const std::vector<float> ref = cpu_forward(c, h).z;  // σ = expf: same_math_tolerance off the sim
    EXPECT_TRUE(compare("z", f.z, ref, same_math_tolerance<float>(), 1, max_abs(ref)));
    EXPECT_GT(bit_mismatches(f.z, f0.z), f0.z.size() * 9 / 10) << "another key must draw another ε";
    EXPECT_GT(bit_mismatches(g, g0), g0.size() * 4 / 10) << "dℓ (half of dh) must follow the key";
  }
}

// Two runs under different sim schedules give the same bits: no atomics, no schedule-dependent order.
class ReparamDeterminism : public DeviceTest {};
TEST_F(ReparamDeterminism, TwoSchedulesBitEqual) {
  const VaeCase c{SAMPLE, 257, 33, 7, 3, 9};
  const std::vector<float> h = head(c), dz = uniform(size_t(c.M * c.N), -1, 1, 7, 3);
  FwdOut a, b;
  std::vector<float> ga, gb;
  with_sim_seed(101, [&] { a = cuda_forward(c, h), ga = cuda_backward(c, h, dz, 0.5f, nullptr); });
  with_sim_seed(202, [&] { b = cuda_forward(c, h), gb = cuda_backward(c, h, dz, 0.5f, nullptr); });
  ASSERT_TRUE(nonzero("value", a.value));
  EXPECT_TRUE(bitwise_equal("z", a.z, b.z));
  EXPECT_TRUE(bitwise_equal("kl", a.kl, b.kl));
  EXPECT_TRUE(bitwise_equal("value", a.value, b.value));
  EXPECT_TRUE(bitwise_equal("dh", ga, gb));
}

class ReparamEdge : public DeviceTest {};

// No rows: the forward writes value 0 and nothing else; the backward writes nothing.
TEST_F(ReparamEdge, NoRows) {
  const DeviceSteps steps(1, 1, 0);
  DeviceBuffer<float> h(4), z(4), kl(1), value(1), dz(4), dv(std::vector<float>{1.0f}), dh(4);
  for (const VaeParams& p : {SAMPLE, MEAN, SAMPLED_KL}) {
    value.fill_nan();
    ae::cuda::reparam_forward(p, steps.get(), h.get(), 0, 2, z.get(), kl.get(), value.get(), nullptr);
    EXPECT_TRUE(bitwise_equal("value", value.download(), {0.0f}));
    ae::cuda::reparam_forward(p, steps.get(), h.get(), 0, 2, z.get(), kl.get(), nullptr, nullptr);
  }
  ae::cuda::reparam_backward(SAMPLE, steps.get(), dz.get(), h.get(), dv.get(), 0, 2, dh.get(), false, nullptr);
  for (const std::vector<float>& out : {z.download(), kl.download(), dh.download()})
    for (float e : out) EXPECT_TRUE(std::isnan(e)) << "an op without rows wrote an element";
  expect_guards("reparam no rows", h, z, kl, value, dz, dv, dh, steps.buf);
}

// The mean code draws no ε, so it runs without a step block; a backward without dz likewise.
TEST_F(ReparamEdge, StepBlockOnlyWhereEpsIsDrawn) {
  const VaeCase c{MEAN, 5, 3, 1, 0, 0};
  const std::vector<float> h = head(c);
  DeviceBuffer<float> dh_in(h), z(size_t(c.M * c.N)), kl(size_t(c.M)), value(1), dv(std::vector<float>{1.0f}),
      dh(h.size());
  ae::cuda::reparam_forward(c.p, nullptr, dh_in.get(), c.M, c.N, z.get(), kl.get(), value.get(), nullptr);
  const std::vector<float> kl_ref = cpu_forward(c, h).kl;  // e^ℓ: same_math_tolerance off the sim
  EXPECT_TRUE(compare("kl", kl.download(), kl_ref, same_math_tolerance<float>(), c.N, max_abs(kl_ref)));
  ae::cuda::reparam_backward(SAMPLE, nullptr, nullptr, dh_in.get(), dv.get(), c.M, c.N, dh.get(), false, nullptr);
  std::vector<float> ref(h.size());
  const float one = 1.0f;
  cpu::reparam_backward<float>(SAMPLE, 0, 0, 0, nullptr, h.data(), &one, c.M, c.N, ref.data(), false);
  EXPECT_TRUE(compare("dh", dh.download(), ref, same_math_tolerance<float>(), 1, max_abs(ref)));  // expm1
}

TEST_F(ReparamEdge, BadArgumentsAreErrors) {
  const DeviceSteps steps(1, 1, 0);
  DeviceBuffer<float> h(8), z(4), kl(2), value(1), dz(4), dv(std::vector<float>{1.0f}), dh(8);
  auto fwd = [&](const VaeParams& p, const StepScalars* s, int64_t M, int64_t N, float* hp, float* zp, float* kp) {
    ae::cuda::reparam_forward(p, s, hp, M, N, zp, kp, value.get(), nullptr);
  };
  auto bwd = [&](const VaeParams& p, const StepScalars* s, float* dzp, int64_t M, int64_t N, float* hp, float* dhp) {
    ae::cuda::reparam_backward(p, s, dzp, hp, dv.get(), M, N, dhp, false, nullptr);
  };
  EXPECT_THROW(fwd(SAMPLE, steps.get(), -1, 2, h.get(), z.get(), kl.get()), ae::Error);
  EXPECT_THROW(fwd(SAMPLE, steps.get(), 2, 0, h.get(), z.get(), kl.get()), ae::Error);
  EXPECT_THROW(fwd(SAMPLE, steps.get(), 2, 2, nullptr, z.get(), kl.get()), ae::Error);
  EXPECT_THROW(fwd(SAMPLE, steps.get(), 2, 2, h.get(), nullptr, kl.get()), ae::Error);
  EXPECT_THROW(fwd(SAMPLE, steps.get(), 2, 2, h.get(), z.get(), nullptr), ae::Error);
  EXPECT_THROW(fwd(SAMPLE, nullptr, 2, 2, h.get(), z.get(), kl.get()), ae::Error);  // ε needs the key
  for (const VaeParams& p : {MEAN, SAMPLED_KL, MEAN_SAMPLED_KL}) {
    SCOPED_TRACE(mode_name(p));
    EXPECT_THROW(bwd(p, steps.get(), dz.get(), 2, 2, h.get(), dh.get()), ae::Error);  // forward-only modes
  }
  EXPECT_THROW(bwd(SAMPLE, steps.get(), dz.get(), -1, 2, h.get(), dh.get()), ae::Error);
  EXPECT_THROW(bwd(SAMPLE, steps.get(), dz.get(), 2, 0, h.get(), dh.get()), ae::Error);
  EXPECT_THROW(bwd(SAMPLE, steps.get(), dz.get(), 2, 2, nullptr, dh.get()), ae::Error);
  EXPECT_THROW(bwd(SAMPLE, steps.get(), dz.get(), 2, 2, h.get(), nullptr), ae::Error);
  EXPECT_THROW(bwd(SAMPLE, nullptr, dz.get(), 2, 2, h.get(), dh.get()), ae::Error);  // ε needs the key
}

#if AE_CUDATEST_SIM
// The kernels run under memcheck with their buffers named: h read one element too far (the whole
// head shifted by one) is reported, not silently taken from the guard bytes.
class ReparamMemcheck : public DeviceTest {};
TEST_F(ReparamMemcheck, AReadPastHIsReported) {
  if (!ae::sim::checks_instrumented()) GTEST_SKIP() << "memcheck needs the instrumented build (not the ASan one)";
  const unsigned saved = ae::sim::checks();
  ae::sim::set_checks(ae::sim::check_all);
  const VaeCase c{SAMPLE, 9, 5, 1, 1, 0};
  const DeviceSteps steps(c.seed, c.step, c.row_offset);
  DeviceBuffer<float> h(head(c)), z(size_t(c.M * c.N)), kl(size_t(c.M)), dz(size_t(c.M * c.N)), dh(h.size());
  name_for_memcheck(h, "h"), name_for_memcheck(z, "z"), name_for_memcheck(kl, "kl"), name_for_memcheck(dz, "dz");
  name_for_memcheck(dh, "dh");
  std::string fwd_what, bwd_what;
  try {
    ae::cuda::reparam_forward(c.p, steps.get(), h.get() + 1, c.M, c.N, z.get(), kl.get(), nullptr, nullptr);
  } catch (const ae::Error& e) {
    fwd_what = e.what();
  }
  try {
    ae::cuda::reparam_backward(c.p, steps.get(), dz.get(), h.get() + 1, nullptr, c.M, c.N, dh.get(), false, nullptr);
  } catch (const ae::Error& e) {
    bwd_what = e.what();
  }
  ae::sim::set_checks(saved);
  for (const std::string& what : {fwd_what, bwd_what}) {
    EXPECT_NE(what.find("memcheck: invalid 4-byte read"), std::string::npos) << what;
    EXPECT_NE(what.find("buffer 'h'"), std::string::npos) << what;
  }
}
#endif

}  // namespace
}  // namespace ae::cudatest
