// Input corruption (denoising) on cuda-sim against the cpu reference: the unfused ae::cuda::corrupt
// against ae::cpu::corrupt for every kind on odd sizes and several (seed, step) keys, and the fused
// regeneration inside ae::cuda::dense_forward (x̃ as the forward GEMM's A operand) and
// ae::cuda::dense_backward (x̃ as the dW GEMM's B operand) against cpu::corrupt followed by the cpu
// dense kernels. Mask and salt-and-pepper with integer lo/hi keep small-integer inputs integer, so
// those fused cases are exact (bit equality); a discrimination check shows that an x̃ drawn with
// the wrong step or element index would fail them; one also adds dW to an earlier writer's while db
// is overwritten (a contractive penalty's first layer). Every buffer is named for the sim's memcheck, so
// a load that strays into the harness's guard bytes is reported, not read.
#include "kernels/cuda/noise.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/dense.h"
#include "kernels/cpu/noise.h"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/dense_fwd.cuh"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

std::string noise_text(const NoiseParams& n) {
  std::ostringstream os;
  switch (n.kind) {
    case NoiseKind::none:
      return "none";
    case NoiseKind::mask:
      os << "mask:" << n.p;
      break;
    case NoiseKind::gaussian:
      os << "gaussian:" << n.p << (n.clip ? ":clip:" : "");
      break;
    case NoiseKind::saltpepper:
      os << "saltpepper:" << n.p << ':';
      break;
  }
  if (n.kind == NoiseKind::saltpepper || (n.kind == NoiseKind::gaussian && n.clip)) os << n.lo << ':' << n.hi;
  return os.str();
}

NoiseParams mask(float p) {
  return {NoiseKind::mask, false, p, 0, 1};
}
NoiseParams gaussian(float sigma) {
  return {NoiseKind::gaussian, false, sigma, 0, 1};
}
NoiseParams gaussian_clip(float sigma, float lo, float hi) {
  return {NoiseKind::gaussian, true, sigma, lo, hi};
}
NoiseParams saltpepper(float p, float lo, float hi) {
  return {NoiseKind::saltpepper, false, p, lo, hi};
}

StepScalars step_scalars(uint64_t seed, int64_t step) {
  StepScalars s{};
  s.step = step;
  s.seed = seed;
  s.loss_scale = 1;
  return s;
}

// The device block of one step's scalars, named for memcheck.
struct DeviceSteps {
  DeviceBuffer<StepScalars> buf;
  DeviceSteps(uint64_t seed, int64_t step) : buf(std::vector<StepScalars>{step_scalars(seed, step)}) {
    name_for_memcheck(buf, "steps");
  }
  const StepScalars* get() const { return buf.get(); }
};

// Elements whose bits differ: the discrimination checks want a count, not a first failure.
size_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = a.size() == b.size() ? 0 : std::max(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

// Mask and salt-and-pepper are integer draws and a select: bit-equal on any device. The gaussian's
// ε goes through libm (log, cos in double): bit-equal under cuda-sim, a few ulp apart on a GPU.
Tolerance noise_tolerance(const NoiseParams& n) {
  return n.kind == NoiseKind::gaussian ? same_math_tolerance<float>() : exact_tolerance();
}

// ---- unfused: ae::cuda::corrupt --------------------------------------------------------------

struct CorruptCase {
  NoiseParams noise;
  int64_t n;
  uint64_t seed;
  int64_t step;

  std::string params() const {
    std::ostringstream os;
    os << "corrupt(noise=" << noise_text(noise) << ",n=" << n << ",seed=" << seed << ",step=" << step << ")";
    return os.str();
  }
  double flops() const { return 0; }  // integer Philox rounds
  double bytes() const { return 8.0 * n; }
};
// gtest logs name the case instead of dumping its bytes.
void PrintTo(const CorruptCase& c, std::ostream* os) {
  *os << c.params();
}

// Clean inputs inside (0, 1), away from every kind's replacement values (0 for mask; salt-and-
// pepper's lo/hi below are outside it), so "corrupted" is "bits changed".
std::vector<float> clean_input(int64_t n, uint64_t seed) {
  return uniform(size_t(n), 0.05f, 0.95f, seed, 1);
}

// No vacuous pass: the draw did corrupt, at the rate and with the values its kind promises. The
// bounds are 5 standard deviations (+1 for the count's discreteness) of the binomial counts; the
// rate checks bite from a few hundred elements on (n = 1 passes them trivially).
void expect_plausible_draw(const CorruptCase& c, const std::vector<float>& x, const std::vector<float>& y) {
  const NoiseParams& k = c.noise;
  const double n = double(c.n);
  const bool large = c.n >= 255;
  size_t changed = 0, at_lo = 0, at_hi = 0, bad_values = 0, outside = 0;
  double sum = 0, sum2 = 0;  // of ε = (y − x)/σ, gaussian
  for (size_t i = 0; i < x.size(); ++i) {
    const bool ch = std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
    changed += ch;
    at_lo += ch && y[i] == k.lo;
    at_hi += ch && y[i] == k.hi;
    outside += y[i] < k.lo || y[i] > k.hi;
    if (ch && k.kind == NoiseKind::mask) bad_values += y[i] != 0.0f;
    if (ch && k.kind == NoiseKind::saltpepper) bad_values += y[i] != k.lo && y[i] != k.hi;
    const double e = (double(y[i]) - x[i]) / k.p;
    sum += e, sum2 += e * e;
  }
  const char* kind = k.kind == NoiseKind::mask ? "mask" : k.kind == NoiseKind::saltpepper ? "saltpepper" : "gaussian";
  SCOPED_TRACE(std::string(kind) + ": " + std::to_string(changed) + " of " + std::to_string(c.n) + " changed");
  if (k.kind == NoiseKind::mask || k.kind == NoiseKind::saltpepper) {
    EXPECT_LE(std::fabs(double(changed) - n * k.p), 5 * std::sqrt(n * k.p * (1 - k.p)) + 1) << "p = " << k.p;
    EXPECT_TRUE(!large || changed > 0);
    EXPECT_EQ(bad_values, 0u) << "a corrupted element is not the kind's replacement value";
  }
  if (k.kind == NoiseKind::saltpepper) {  // salt and pepper about half each
    EXPECT_LE(std::fabs(double(at_hi) - changed / 2.0), 5 * std::sqrt(changed / 4.0) + 1) << at_hi << " salt";
  }
  if (k.kind == NoiseKind::gaussian) {
    EXPECT_TRUE(!large || double(changed) >= 0.99 * n) << "x + σ·ε left x unchanged";
  }
  if (k.kind == NoiseKind::gaussian && !k.clip && c.n >= 1000) {  // ε standard normal: its sample moments
    const double mean = sum / n, var = sum2 / n - mean * mean;
    EXPECT_LE(std::fabs(mean), 5 / std::sqrt(n)) << "mean of (y - x)/sigma";
    EXPECT_LE(std::fabs(var - 1), 5 * std::sqrt(2 / n)) << "variance of (y - x)/sigma";
  }
  if (k.kind == NoiseKind::gaussian && k.clip) {
    EXPECT_EQ(outside, 0u) << "elements outside the clip range [" << k.lo << ", " << k.hi << "]";
    EXPECT_TRUE(!large || at_lo + at_hi > 0) << "the clip never acted: the case does not test it";
  }
}

class Corrupt : public DeviceTestWithParam<CorruptCase> {};

TEST_P(Corrupt, MatchesCpuReference) {
  const CorruptCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const std::vector<float> x = clean_input(c.n, c.seed);
  std::vector<float> ref(size_t(c.n));
  cpu::corrupt(c.noise, c.seed, uint64_t(c.step), x.data(), ref.data(), c.n);

  const DeviceSteps steps(c.seed, c.step);
  DeviceBuffer<float> dx(x), y(size_t(c.n));  // y NaN-prefilled: an unwritten element fails
  name_for_memcheck(dx, "x"), name_for_memcheck(y, "y");
  ae::cuda::corrupt(c.noise, steps.get(), dx.get(), y.get(), c.n, nullptr);
  const std::vector<float> got = y.download();
  EXPECT_TRUE(bitwise_equal("x (must be untouched)", dx.download(), x));
  ae::cuda::corrupt(c.noise, steps.get(), dx.get(), dx.get(), c.n, nullptr);  // y aliasing x
  const std::vector<float> in_place = dx.download();
  expect_guards(c.params(), dx, y, steps.buf);

  FailureDump dump(c.params());
  dump.add("x", x), dump.add("y_ref", ref), dump.add("y", got), dump.add("y_in_place", in_place);
  ASSERT_TRUE(nonzero("y_ref", ref));
  EXPECT_TRUE(compare("y", got, ref, noise_tolerance(c.noise), 1, 1.0));
  EXPECT_TRUE(compare("y in place", in_place, ref, noise_tolerance(c.noise), 1, 1.0));
  expect_plausible_draw(c, x, got);
}

std::vector<CorruptCase> corrupt_cases() {
  // lo/hi of salt and pepper outside the clean range; the gaussian clip at the clean data's range
  // (what the trainer records), where σ = 0.2 pushes a good share of elements past it.
  const NoiseParams kinds[] = {mask(0.3f), gaussian(0.2f), gaussian_clip(0.2f, 0.05f, 0.95f),
                               saltpepper(0.1f, -0.5f, 1.5f)};
  const std::pair<uint64_t, int64_t> keys[] = {{7, 1}, {0x5eed0000abcd1234ull, (int64_t(1) << 40) + 3}};
  std::vector<CorruptCase> v;
  for (const NoiseParams& k : kinds)
    for (const auto& [seed, step] : keys)
      for (int64_t n : {1, 255, 257, 1009, 4099}) v.push_back({k, n, seed, step});
  v.push_back({mask(0.5f), 4096 * 256 + 37, 11, 2});  // past one grid-stride lap of the capped grid
  v.push_back({saltpepper(0.9f, -1, 2), 1031, 12, 3});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Corrupt, ::testing::ValuesIn(corrupt_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class CorruptKey : public DeviceTest {};

// The device reads seed and step from the block, and both change the draw.
TEST_F(CorruptKey, StepAndSeedEachChangeTheDraw) {
  const int64_t n = 1009;
  const std::vector<float> x = clean_input(n, 3);
  DeviceBuffer<float> dx(x), y(n);
  auto run = [&](uint64_t seed, int64_t step) {
    const DeviceSteps steps(seed, step);
    y.fill_nan();
    ae::cuda::corrupt(mask(0.3f), steps.get(), dx.get(), y.get(), n, nullptr);
    return y.download();
  };
  const std::vector<float> base = run(5, 10);
  EXPECT_TRUE(bitwise_equal("the same key twice", run(5, 10), base));
  EXPECT_GT(bit_mismatches(run(5, 11), base), size_t(n / 10)) << "the next step must draw a fresh mask";
  EXPECT_GT(bit_mismatches(run(6, 10), base), size_t(n / 10)) << "another seed must draw another mask";
}

TEST_F(CorruptKey, BadArgumentsAreErrors) {
  DeviceBuffer<float> x(4);
  const DeviceSteps steps(1, 1);
  EXPECT_THROW(ae::cuda::corrupt(mask(0.3f), steps.get(), x.get(), x.get(), -1, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::corrupt(mask(0.3f), nullptr, x.get(), x.get(), 4, nullptr), ae::Error);
  NoiseParams bad = mask(0.3f);
  bad.kind = static_cast<NoiseKind>(9);
  EXPECT_THROW(ae::cuda::corrupt(bad, steps.get(), x.get(), x.get(), 4, nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::dense_forward<float>(x.get(), x.get(), nullptr, Act::relu, 2, 2, 2, x.get(), nullptr, nullptr,
                                              mask(0.3f), nullptr),
               ae::Error);  // a corruption without the step scalars
}

// ---- fused: corruption regenerated on the first layer's GEMM loads ---------------------------

struct FusedCase {
  NoiseParams noise;
  Act act;
  int64_t M, N, K;
  bool exact;  // small integers, integer lo/hi, act ∈ {linear, relu}: bit-equal results
  uint64_t seed;
  int64_t step;

  std::string params(const char* op) const {
    std::ostringstream os;
    os << op << "(noise=" << noise_text(noise) << ",act=" << act_name(act) << ",M=" << M << ",N=" << N << ",K=" << K
       << (exact ? ",exact" : "") << ",seed=" << seed << ",step=" << step << ")";
    return os.str();
  }
  double flops() const { return 2.0 * M * N * K; }  // each of the forward and the dW GEMM
  double bytes() const { return 4.0 * (M * K + N * K + N + 2 * M * N); }
};
void PrintTo(const FusedCase& c, std::ostream* os) {
  *os << c.params("dense");
}

struct FusedInputs {
  std::vector<float> x, w, b, dy, z, y;  // y = act(z): the backward's saved forward output
  explicit FusedInputs(const FusedCase& c) {
    const size_t MK = c.M * c.K, NK = c.N * c.K, MN = c.M * c.N;
    if (c.exact) {
      x = small_ints(MK, -3, 3, c.seed, 1), w = small_ints(NK, -3, 3, c.seed, 2), b = small_ints(c.N, -8, 8, c.seed, 3);
      dy = small_ints(MN, -3, 3, c.seed, 4), z = small_ints(MN, -4, 4, c.seed, 5);
    } else {
      x = uniform(MK, -1, 1, c.seed, 1), w = uniform(NK, -1, 1, c.seed, 2), b = uniform(c.N, -0.5f, 0.5f, c.seed, 3);
      dy = uniform(MN, -1, 1, c.seed, 4), z = uniform(MN, -3, 3, c.seed, 5);
    }
    y.resize(MN);
    for (size_t i = 0; i < MN; ++i) y[i] = act_forward(c.act, z[i]);
  }
};

// x̃ drawn with a given key and element index: index(m, k) = m·K + k is the true one; the others
// are the mistakes a loader could make, which the discrimination check proves the cases catch.
enum class Keying { right, next_step, transposed_index, index_in_row };
std::vector<float> corrupted(const FusedCase& c, const std::vector<float>& x, Keying how) {
  std::vector<float> xt(x.size());
  if (how == Keying::right) {
    cpu::corrupt(c.noise, c.seed, uint64_t(c.step), x.data(), xt.data(), int64_t(x.size()));
    return xt;
  }
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t k = 0; k < c.K; ++k) {
      const uint64_t step = uint64_t(c.step) + (how == Keying::next_step);
      const uint64_t idx = how == Keying::transposed_index ? k * c.M + m
                           : how == Keying::index_in_row   ? k
                                                           : m * c.K + k;
      xt[m * c.K + k] = ae::corrupt(c.noise, x[m * c.K + k], c.seed, step, idx);
    }
  return xt;
}

struct FwdOut {
  std::vector<float> y, z;
};
FwdOut cpu_forward(const FusedCase& c, const FusedInputs& in, const std::vector<float>& xt) {
  FwdOut r{std::vector<float>(c.M * c.N), std::vector<float>(c.M * c.N)};
  cpu::dense_forward<float>(xt.data(), in.w.data(), in.b.data(), c.act, c.M, c.N, c.K, r.y.data(), r.z.data());
  return r;
}
FwdOut cuda_forward(const FusedCase& c, const FusedInputs& in) {
  const DeviceSteps steps(c.seed, c.step);
  DeviceBuffer<float> x(in.x), w(in.w), b(in.b), y(c.M * c.N), z(c.M * c.N);
  name_for_memcheck(x, "x"), name_for_memcheck(w, "w"), name_for_memcheck(b, "b");
  name_for_memcheck(y, "y"), name_for_memcheck(z, "z");
  ae::cuda::dense_forward<float>(x.get(), w.get(), b.get(), c.act, c.M, c.N, c.K, y.get(), z.get(), nullptr, c.noise,
                                 steps.get());
  expect_guards(c.params("dense_fwd"), x, w, b, y, z, steps.buf);
  EXPECT_TRUE(bitwise_equal("x (the clean input is only read)", x.download(), in.x));
  return {y.download(), z.download()};
}

struct BwdOut {
  std::vector<float> dw, db, dx;
};
BwdOut cpu_backward(const FusedCase& c, const FusedInputs& in, const std::vector<float>& xt) {
  BwdOut r{std::vector<float>(c.N * c.K), std::vector<float>(c.N), std::vector<float>(c.M * c.K)};
  std::vector<float> dz(c.M * c.N);
  cpu::dense_backward<float>(in.dy.data(), in.y.data(), nullptr, c.act, xt.data(), in.w.data(), c.M, c.N, c.K,
                             dz.data(), r.dw.data(), r.db.data(), r.dx.data(), false, false);
  return r;
}
BwdOut cuda_backward(const FusedCase& c, const FusedInputs& in) {
  const DeviceSteps steps(c.seed, c.step);
  DeviceBuffer<float> dy(in.dy), y(in.y), x(in.x), w(in.w), dw(c.N * c.K), db(c.N), dx(c.M * c.K);
  name_for_memcheck(dy, "dy"), name_for_memcheck(y, "y"), name_for_memcheck(x, "x"), name_for_memcheck(w, "w");
  name_for_memcheck(dw, "dw"), name_for_memcheck(db, "db"), name_for_memcheck(dx, "dx");
  ae::cuda::dense_backward<float>(dy.get(), y.get(), nullptr, c.act, x.get(), w.get(), c.M, c.N, c.K, dw.get(),
                                  db.get(), dx.get(), false, false, nullptr, c.noise, steps.get());
  expect_guards(c.params("dense_bwd"), dy, y, x, w, dw, db, dx, steps.buf);
  EXPECT_TRUE(bitwise_equal("x (the clean input is only read)", x.download(), in.x));
  return {dw.download(), db.download(), dx.download()};
}

Tolerance fused_tolerance(const FusedCase& c) {
  return c.exact ? exact_tolerance() : tolerance<float>();
}

class FusedNoise : public DeviceTestWithParam<FusedCase> {};

TEST_P(FusedNoise, DenseForwardEqualsCorruptThenForward) {
  const FusedCase& c = GetParam();
  SCOPED_TRACE(c.params("dense_fwd"));
  const FusedInputs in(c);
  const std::vector<float> xt = corrupted(c, in.x, Keying::right);
  const FwdOut ref = cpu_forward(c, in, xt), got = cuda_forward(c, in);

  FailureDump dump(c.params("dense_fwd"));
  dump.add("x", in.x), dump.add("x_corrupted", xt), dump.add("w", in.w), dump.add("b", in.b);
  dump.add("y_ref", ref.y), dump.add("y", got.y), dump.add("z_ref", ref.z), dump.add("z", got.z);
  ASSERT_GT(bit_mismatches(xt, in.x), 0u) << "the corruption changed nothing: the case is vacuous";
  ASSERT_TRUE(nonzero("z_ref", ref.z));
  const double scale = max_abs(xt) * max_abs(in.w);
  EXPECT_TRUE(compare("y", got.y, ref.y, fused_tolerance(c), c.K, scale));
  EXPECT_TRUE(compare("z", got.z, ref.z, fused_tolerance(c), c.K, scale));
}

TEST_P(FusedNoise, DenseBackwardEqualsCorruptThenBackward) {
  const FusedCase& c = GetParam();
  SCOPED_TRACE(c.params("dense_bwd"));
  const FusedInputs in(c);
  const std::vector<float> xt = corrupted(c, in.x, Keying::right);
  const BwdOut ref = cpu_backward(c, in, xt), got = cuda_backward(c, in);

  FailureDump dump(c.params("dense_bwd"));
  dump.add("x", in.x), dump.add("x_corrupted", xt), dump.add("w", in.w), dump.add("dy", in.dy), dump.add("y", in.y);
  dump.add("dw_ref", ref.dw), dump.add("dw", got.dw), dump.add("db_ref", ref.db), dump.add("db", got.db);
  dump.add("dx_ref", ref.dx), dump.add("dx", got.dx);
  ASSERT_GT(bit_mismatches(xt, in.x), 0u) << "the corruption changed nothing: the case is vacuous";
  ASSERT_TRUE(nonzero("dw_ref", ref.dw));
  double dz_max = 0;  // |dz| ≤ |dy|·max act′; act′ ≤ 1 for the activations of these cases
  for (float e : in.dy) dz_max = std::max(dz_max, double(std::fabs(e)));
  EXPECT_TRUE(compare("dW (from x~)", got.dw, ref.dw, fused_tolerance(c), c.M, dz_max * max_abs(xt)));
  EXPECT_TRUE(compare("db", got.db, ref.db, fused_tolerance(c), c.M, dz_max));
  EXPECT_TRUE(compare("dx (x~ plays no part)", got.dx, ref.dx, fused_tolerance(c), c.N, dz_max * max_abs(in.w)));
}

std::vector<FusedCase> fused_cases() {
  std::vector<FusedCase> v;
  // Exact: tile edges (the GEMM tile is 64×64, K-steps of 16; dW steps over M) and odd primes.
  const NoiseParams exact_kinds[] = {mask(0.3f), saltpepper(0.2f, -2, 3)};
  const int64_t shapes[][3] = {{37, 65, 129}, {1, 17, 63}, {65, 64, 17}, {129, 1, 257}, {17, 63, 1}, {200, 31, 67}};
  uint64_t seed = 1;
  for (const NoiseParams& k : exact_kinds)
    for (const auto& s : shapes)
      v.push_back({k, seed % 2 ? Act::relu : Act::linear, s[0], s[1], s[2], true, seed, int64_t(seed) * 3 + 1}), ++seed;
  v.push_back({mask(0.25f), Act::relu, 32, 64, 784, true, 21, 5});  // the 784-64r first layer at batch 32
  // Random floats: the gaussian, plain and clipped, within the tolerance of tolerance.h.
  v.push_back({gaussian(0.2f), Act::tanh, 37, 65, 129, false, 31, 2});
  v.push_back({gaussian_clip(0.3f, -0.9f, 0.9f), Act::sigmoid, 67, 61, 31, false, 32, 9});
  v.push_back({gaussian(0.1f), Act::relu, 1, 129, 63, false, 33, 1});
  v.push_back({mask(0.3f), Act::leaky_relu, 65, 17, 97, false, 34, 4});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedNoise, ::testing::ValuesIn(fused_cases()),
                         [](const auto& info) { return test_name(info.param.params("dense")); });

// The cases above are discriminating: an x̃ keyed by the next step, by the transposed index
// k·M + m (the dW operand's (r, t) order instead of x's memory offset) or by the index within the
// row gives results that fail the same exact comparison.
class FusedNoiseKeying : public DeviceTest {};
TEST_F(FusedNoiseKeying, AWrongStepOrIndexWouldFail) {
  for (const FusedCase& c : {FusedCase{mask(0.3f), Act::relu, 37, 65, 129, true, 41, 6},
                             FusedCase{saltpepper(0.2f, -2, 3), Act::linear, 65, 64, 17, true, 42, 7}}) {
    SCOPED_TRACE(c.params("dense"));
    const FusedInputs in(c);
    const FwdOut fwd = cuda_forward(c, in);
    const BwdOut bwd = cuda_backward(c, in);
    EXPECT_EQ(bit_mismatches(fwd.z, cpu_forward(c, in, corrupted(c, in.x, Keying::right)).z), 0u);
    EXPECT_EQ(bit_mismatches(bwd.dw, cpu_backward(c, in, corrupted(c, in.x, Keying::right)).dw), 0u);
    for (Keying wrong : {Keying::next_step, Keying::transposed_index, Keying::index_in_row}) {
      const std::vector<float> xt = corrupted(c, in.x, wrong);
      const size_t z_bad = bit_mismatches(fwd.z, cpu_forward(c, in, xt).z);
      const size_t dw_bad = bit_mismatches(bwd.dw, cpu_backward(c, in, xt).dw);
      std::printf("[ keying   ] wrong keying %d: forward z %zu of %zu differ, dW %zu of %zu\n", int(wrong), z_bad,
                  fwd.z.size(), dw_bad, bwd.dw.size());
      EXPECT_GT(z_bad, fwd.z.size() / 4) << "keying " << int(wrong) << " would pass the forward check";
      EXPECT_GT(dw_bad, bwd.dw.size() / 4) << "keying " << int(wrong) << " would pass the dW check";
    }
  }
}

// The first layer of a denoising model with a contractive penalty: the penalty writes dW first, so
// the dW pass that corrupts x on load adds to dW while it overwrites db (the noisy instantiation's
// epilogue, with the two flags apart). Exact inputs: dW = dw0 + dzᵀ·x̃ and db are bit-equal.
class FusedNoiseAccumulate : public DeviceTest {};
TEST_F(FusedNoiseAccumulate, DwAddsToAnEarlierWriterWhileDbOverwrites) {
  const FusedCase c{mask(0.3f), Act::relu, 37, 65, 129, true, 43, 8};
  SCOPED_TRACE(c.params("dense_bwd"));
  const FusedInputs in(c);
  const std::vector<float> xt = corrupted(c, in.x, Keying::right), dw0 = small_ints(c.N * c.K, -9, 9, c.seed, 6);
  std::vector<float> dw_ref = dw0, db_ref(c.N, NAN), dz(c.M * c.N);
  cpu::dense_backward<float>(in.dy.data(), in.y.data(), nullptr, c.act, xt.data(), in.w.data(), c.M, c.N, c.K,
                             dz.data(), dw_ref.data(), db_ref.data(), nullptr, true, false);
  const DeviceSteps steps(c.seed, c.step);
  DeviceBuffer<float> dy(in.dy), y(in.y), x(in.x), w(in.w), dw(dw0), db(c.N);  // db starts as NaN
  ae::cuda::dense_backward<float>(dy.get(), y.get(), nullptr, c.act, x.get(), w.get(), c.M, c.N, c.K, dw.get(),
                                  db.get(), nullptr, true, false, nullptr, c.noise, steps.get());
  expect_guards(c.params("dense_bwd"), dy, y, x, w, dw, db, steps.buf);
  ASSERT_TRUE(finite("dw_ref", dw_ref));
  ASSERT_TRUE(finite("db_ref", db_ref));
  ASSERT_TRUE(nonzero("db_ref", db_ref));
  ASSERT_GT(bit_mismatches(dw_ref, dw0), 0u) << "dzᵀ·x̃ added nothing: the case is vacuous";
  EXPECT_EQ(bit_mismatches(dw.download(), dw_ref), 0u);
  EXPECT_EQ(bit_mismatches(db.download(), db_ref), 0u);
}

#if AE_CUDATEST_SIM
class FusedNoiseMemcheck : public DeviceTest {};
// The fused loads run under memcheck with the buffers named: x read one element too far (here the
// whole operand shifted by one) is reported, not silently taken from the guard bytes.
TEST_F(FusedNoiseMemcheck, ALoadPastXIsReported) {
  if (!ae::sim::checks_instrumented()) GTEST_SKIP() << "memcheck needs the instrumented build (not the ASan one)";
  const unsigned saved = ae::sim::checks();
  ae::sim::set_checks(ae::sim::check_all);
  const FusedCase c{mask(0.3f), Act::relu, 5, 7, 9, true, 1, 1};
  const FusedInputs in(c);
  const DeviceSteps steps(c.seed, c.step);
  DeviceBuffer<float> x(in.x), w(in.w), y(c.M * c.N);
  name_for_memcheck(x, "x"), name_for_memcheck(w, "w"), name_for_memcheck(y, "y");
  std::string what;
  try {
    ae::cuda::dense_forward<float>(x.get() + 1, w.get(), nullptr, c.act, c.M, c.N, c.K, y.get(), nullptr, nullptr,
                                   c.noise, steps.get());
  } catch (const ae::Error& e) {
    what = e.what();
  }
  ae::sim::set_checks(saved);
  EXPECT_NE(what.find("memcheck: invalid 4-byte read"), std::string::npos) << what;
  EXPECT_NE(what.find("buffer 'x'"), std::string::npos) << what;
}
#endif

}  // namespace
}  // namespace ae::cudatest
