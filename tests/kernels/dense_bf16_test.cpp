// The mixed-precision dense layer (dense_forward_bf16, dense_backward_bf16) against the fp32
// dense_forward<float>/dense_backward<float> run on the same bf16-rounded inputs, over adversarial
// shapes (M, N, K each of 1, 17, 63, 65, 130), every activation, z kept or not, y null where
// allowed, both accumulate flags, dx/db null. Two modes per case:
//  - exact: small-integer x, W, b and dy make every fp32 sum exact, so z, and for linear/relu
//    (act′ ∈ {0, 1}) dz, dW, db and dx, must equal the fp32 results bit for bit (bf16-rounded
//    where stored in bf16): any tiling, tail, layout or accumulation bug is a hard failure;
//  - random: uniform values, checked within bf16_check.h's one tolerance rule.
// In both, dz must be bf16_bits of the fp32 kernel's dz (the same fp32 operations) and db the
// fp32 column sums of the stored dz in row order, bit for bit. Outputs are prefilled with NaN.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bf16_check.h"
#include "kernels/common/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/gemm.h"

namespace ae::cpu {
namespace {

using namespace ae::cpu::test;

const Act ALL_ACTS[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh,
                        Act::selu,   Act::elu,  Act::softplus,   Act::gelu};
const int64_t SIZES[] = {1, 17, 63, 65, 130};

bool piecewise_linear(Act a) { return a == Act::linear || a == Act::relu || a == Act::leaky_relu; }
// act′ ∈ {0, 1}: an integer dy stays an integer in dz, so exact mode covers the GEMMs after it.
bool integer_derivative(Act a) { return a == Act::linear || a == Act::relu; }

struct DenseBf16Case {
  int64_t M, N, K;
  Act act;
  bool exact, keep_z, y_null, acc_dw, acc_db, dx_null, db_null;
  uint64_t seed;
  std::string name() const {
    std::ostringstream s;
    s << "dense_bf16(act=" << act_name(act) << ",M=" << M << ",N=" << N << ",K=" << K << (exact ? ",exact" : ",random")
      << (keep_z ? ",z" : "") << (y_null ? ",y=null" : "") << (acc_dw ? ",acc_dw" : "") << (acc_db ? ",acc_db" : "")
      << (dx_null ? ",dx=null" : "") << (db_null ? ",db=null" : "") << ",seed=" << seed << ")";
    return s.str();
  }
  double flops() const { return 6.0 * double(M) * double(N) * double(K); }
};

// Values rounded to bf16: integers in [−r, r] (exact mode), else uniform in [−r, r].
std::vector<bfloat16> draw_bf16(size_t n, std::mt19937_64& rng, bool exact, int r) {
  std::vector<bfloat16> v(n);
  std::uniform_int_distribution<int> i(-r, r);
  std::uniform_real_distribution<float> u(-float(r), float(r));
  for (auto& x : v) x = narrow(exact ? float(i(rng)) : u(rng));
  return v;
}
std::vector<float> draw_f32(size_t n, std::mt19937_64& rng, bool exact, int r) {
  std::vector<float> v(n);
  std::uniform_int_distribution<int> i(-r, r);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (auto& x : v) x = exact ? float(i(rng)) : u(rng);
  return v;
}

std::vector<float> bf16_of_each(const std::vector<float>& v) {  // the values a bf16 store keeps
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_value(bf16_bits(v[i]));
  return out;
}

// A case's inputs; drawn again (next attempt) until the references are not all zero (a relu
// layer of one output can be dead), so no check passes vacuously.
struct Inputs {
  std::vector<bfloat16> x, w, dy;
  std::vector<float> b, dw0, db0;
  Inputs(const DenseBf16Case& c, uint64_t attempt) {
    std::mt19937_64 rng(c.seed * 1000 + attempt);
    x = draw_bf16(c.M * c.K, rng, c.exact, 3);
    w = draw_bf16(c.N * c.K, rng, c.exact, 3);
    b = draw_f32(c.N, rng, c.exact, 8);
    dy = draw_bf16(c.M * c.N, rng, c.exact, 4);
    dw0 = draw_f32(c.N * c.K, rng, c.exact, 5);
    db0 = draw_f32(c.N, rng, c.exact, 5);
  }
};
constexpr int ATTEMPTS = 100;

void check_forward(const DenseBf16Case& c) {
  SCOPED_TRACE(c.name());
  const int64_t M = c.M, N = c.N, K = c.K;
  std::vector<float> y_ref(M * N), z_ref(M * N);
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, ATTEMPTS) << "no inputs with a non-zero reference";
    const Inputs in(c, attempt);
    dense_forward<float>(widen(in.x).data(), widen(in.w).data(), in.b.data(), c.act, M, N, K, y_ref.data(),
                         z_ref.data());
    if (!nonzero(y_ref) || !nonzero(z_ref)) continue;
    auto y = nan_bf16(M * N), z = nan_bf16(M * N);
    dense_forward_bf16(in.x.data(), in.w.data(), in.b.data(), c.act, M, N, K, y.data(), c.keep_z ? z.data() : nullptr);
    const double scale = max_abs(in.x) * max_abs(in.w);
    if (c.keep_z) c.exact ? expect_bits(z, z_ref, "z") : expect_close(z, z_ref, K, scale, "z");
    if (!c.exact) return expect_close(y, y_ref, K, scale, "y");
    // Exact mode: y is act of the exact sum (fused), or of its bf16 rounding (dense.h), in fp32 and
    // rounded. Piecewise-linear activations are the same operations everywhere: bit equality. The
    // others are evaluated by different fp32 approximations (oneDNN's eltwise, ae's vectorized exp,
    // libm here), a few fp32 ulp apart: the stored bf16 may be one bf16 step away.
    const bool fused = !c.keep_z && gemm_bf16_fuses(c.act);
    const std::vector<float> pre = fused ? z_ref : bf16_of_each(z_ref);
    std::vector<float> want(M * N);
    activation_forward<float>(c.act, pre.data(), want.data(), M * N);
    if (piecewise_linear(c.act)) return expect_bits(y, want, "y");
    int64_t far = 0, first = 0;
    for (int64_t i = 0; i < M * N; ++i) {
      const int d = int(y[i].bits) - int(bf16_bits(want[i]));
      // In the saturated tail (z ≤ −87) oneDNN's logistic returns 0 where libm gives ~1e-38.
      const bool tiny = std::abs(widen(y[i]) - want[i]) <= 0x1p-100;
      if ((std::isnan(widen(y[i])) || ((d < -1 || d > 1) && !tiny)) && far++ == 0) first = i;
    }
    EXPECT_EQ(far, 0) << "y: elements more than one bf16 step (or 2^-100) from bf16(act(pre)), first [" << first << "] pre "
                      << pre[first] << " got " << widen(y[first]) << " want " << want[first];
    return;
  }
}

void check_backward(const DenseBf16Case& c) {
  SCOPED_TRACE(c.name());
  const int64_t M = c.M, N = c.N, K = c.K;
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, ATTEMPTS) << "no inputs with a non-zero reference";
    const Inputs in(c, attempt);
    // The forward's own bf16 y and z: the values a plan keeps for the backward.
    auto y = nan_bf16(M * N), z = nan_bf16(M * N);
    dense_forward_bf16(in.x.data(), in.w.data(), in.b.data(), c.act, M, N, K, y.data(), z.data());
    std::vector<float> dz_ref(M * N), dw_ref = in.dw0, db_ref = in.db0, dx_ref(M * K);
    const std::vector<float> yf = widen(y), zf = widen(z), xf = widen(in.x);
    dense_backward<float>(widen(in.dy).data(), c.y_null ? nullptr : yf.data(), c.keep_z ? zf.data() : nullptr, c.act,
                          xf.data(), widen(in.w).data(), M, N, K, dz_ref.data(), dw_ref.data(), db_ref.data(),
                          dx_ref.data(), c.acc_dw, c.acc_db);
    if (!nonzero(dz_ref) || !nonzero(dx_ref) || !nonzero(xf)) continue;

    std::vector<float> dw = c.acc_dw ? in.dw0 : std::vector<float>(N * K, NAN);
    std::vector<float> db = c.acc_db ? in.db0 : std::vector<float>(N, NAN);
    auto dz = in.dy, dx = nan_bf16(M * K);
    dense_backward_bf16(dz.data(), c.y_null ? nullptr : y.data(), c.keep_z ? z.data() : nullptr, c.act, in.x.data(),
                        in.w.data(), M, N, K, dw.data(), c.db_null ? nullptr : db.data(),
                        c.dx_null ? nullptr : dx.data(), c.acc_dw, c.acc_db);
    // dz: the same fp32 operations, then one rounding.
    expect_bits(dz, dz_ref, "dz");
    // db: the stored dz summed in fp32, row by row from 0 (then added to db0), for any thread count.
    if (!c.db_null) {
      std::vector<float> db_sum(N, 0.0f);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) db_sum[j] += widen(dz[i * N + j]);
      if (c.acc_db)
        for (int64_t j = 0; j < N; ++j) db_sum[j] = in.db0[j] + db_sum[j];
      expect_bits(db, db_sum, "db", false);  // column sums of integers may cancel
      expect_close(db, db_ref, M, max_abs(dz), "db vs fp32", false);
    }
    const bool exact = c.exact && integer_derivative(c.act);
    exact ? expect_bits(dw, dw_ref, "dW") : expect_close(dw, dw_ref, M, max_abs(dz) * max_abs(in.x), "dW");
    if (!c.dx_null)
      exact ? expect_bits(dx, dx_ref, "dx") : expect_close(dx, dx_ref, N, max_abs(dz) * max_abs(in.w), "dx");
    else
      for (const bfloat16 v : dx) ASSERT_EQ(v.bits, BF16_NAN) << "dx written though null was passed";
    return;
  }
}

// Every shape in both modes, each with a third of the activations (shape s takes those ≡ s mod 3,
// so every activation meets every size of M, N and K ~40 times: a oneDNN primitive is JIT-compiled
// per shape and post-op, which is what the test's time goes to); the optional parts rotate over
// the cases so that each combination of flags meets many shapes and every activation.
std::vector<DenseBf16Case> all_cases() {
  std::vector<DenseBf16Case> cases;
  uint64_t seed = 1;
  int k = 0, shape = 0;
  for (bool exact : {true, false})
    for (int64_t M : SIZES)
      for (int64_t N : SIZES)
        for (int64_t K : SIZES)
          for (int a = shape++ % 3; a < ACT_COUNT; a += 3) {
            const Act act = ALL_ACTS[a];
            DenseBf16Case c{M, N, K, act, exact, false, false, false, false, false, false, seed++};
            ++k;
            c.keep_z = act_derivative_needs_z(act) || k % 2 == 0;
            c.y_null = c.keep_z ? k % 3 == 0 : act == Act::linear && k % 4 == 1;
            c.acc_dw = (k / 2) % 2 == 1;
            c.acc_db = (k / 4) % 2 == 1;
            c.dx_null = k % 5 == 0;
            c.db_null = k % 7 == 3;
            cases.push_back(c);
          }
  return cases;
}

class DenseBf16 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bf16_gemm_native()) GTEST_SKIP() << bf16_gemm_support();
  }
};

TEST_F(DenseBf16, ForwardMatchesFp32OnRoundedInputs) {
  double flops = 0;
  for (const auto& c : all_cases()) {
    check_forward(c);
    flops += c.flops() / 3;
    if (HasFailure()) break;  // one case's report, not 2250
  }
  EXPECT_GT(flops, 0);
}

TEST_F(DenseBf16, BackwardMatchesFp32OnRoundedInputs) {
  for (const auto& c : all_cases()) {
    check_backward(c);
    if (HasFailure()) break;
  }
}

TEST_F(DenseBf16, EmptyProductAndEmptyBatch) {
  // K = 0: y = bf16(act(b)), z = bf16(b); M = 0: dW zeroed (not accumulated), db zero.
  const std::vector<float> b{0.3f, -1.7f, 2.0f};
  auto y = nan_bf16(6), z = nan_bf16(6);
  std::vector<bfloat16> none(1);
  dense_forward_bf16(none.data(), none.data(), b.data(), Act::tanh, 2, 3, 0, y.data(), z.data());
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(z[i].bits, bf16_bits(b[i % 3]));
    EXPECT_LE(std::abs(widen(y[i]) - std::tanh(b[i % 3])), BF16_EPS);
  }
  std::vector<bfloat16> dy(1), x(1), w(6, narrow(1.0f));
  std::vector<float> dw(6, NAN), db(3, NAN);
  dense_backward_bf16(dy.data(), nullptr, nullptr, Act::linear, x.data(), w.data(), 0, 3, 2, dw.data(), db.data(),
                      nullptr, false, false);
  for (float v : dw) EXPECT_EQ(v, 0.0f);
  for (float v : db) EXPECT_EQ(v, 0.0f);
}

TEST_F(DenseBf16, DeterministicAndDbIndependentOfThreads) {
  const int64_t M = 256, N = 300, K = 130;  // big enough for the threaded passes
  std::mt19937_64 rng(99);
  const auto x = draw_bf16(M * K, rng, false, 1), w = draw_bf16(N * K, rng, false, 1);
  const auto b = draw_f32(N, rng, false, 1);
  const auto dy = draw_bf16(M * N, rng, false, 1);
  auto run = [&](int threads, std::vector<bfloat16>& y, std::vector<bfloat16>& dz, std::vector<float>& dw,
                 std::vector<float>& db, std::vector<bfloat16>& dx) {
    const int saved = omp_get_max_threads(), saved_gemm = set_gemm_threads(threads);
    omp_set_num_threads(threads);
    y = nan_bf16(M * N), dz = dy, dw.assign(N * K, NAN), db.assign(N, NAN), dx = nan_bf16(M * K);
    dense_forward_bf16(x.data(), w.data(), b.data(), Act::sigmoid, M, N, K, y.data(), nullptr);
    dense_backward_bf16(dz.data(), y.data(), nullptr, Act::sigmoid, x.data(), w.data(), M, N, K, dw.data(), db.data(),
                        dx.data(), false, false);
    omp_set_num_threads(saved);
    set_gemm_threads(saved_gemm);
  };
  std::vector<bfloat16> y1, dz1, dx1, y2, dz2, dx2, y3, dz3, dx3;
  std::vector<float> dw1, db1, dw2, db2, dw3, db3;
  run(2, y1, dz1, dw1, db1, dx1);
  run(2, y2, dz2, dw2, db2, dx2);
  run(1, y3, dz3, dw3, db3, dx3);
  auto same = [](const auto& a, const auto& b) { return std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0; };
  EXPECT_TRUE(same(y1, y2) && same(dz1, dz2) && same(dw1, dw2) && same(db1, db2) && same(dx1, dx2));
  EXPECT_TRUE(same(db1, db3)) << "db changed with the thread count";
}

TEST_F(DenseBf16, RefusesWhatTheFp32KernelRefuses) {
  std::vector<bfloat16> v(4);
  std::vector<float> f(4);
  EXPECT_THROW(dense_backward_bf16(v.data(), v.data(), nullptr, Act::gelu, v.data(), v.data(), 2, 2, 1, f.data(),
                                   nullptr, nullptr, false, false),
               ae::Error);
  EXPECT_THROW(dense_backward_bf16(v.data(), nullptr, nullptr, Act::relu, v.data(), v.data(), 2, 2, 1, f.data(),
                                   nullptr, nullptr, false, false),
               ae::Error);
  EXPECT_THROW(dense_forward_bf16(v.data(), v.data(), nullptr, Act::relu, 2, 2, 1, nullptr, nullptr), ae::Error);
}

}  // namespace
}  // namespace ae::cpu
