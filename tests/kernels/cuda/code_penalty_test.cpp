// The code layer's fused sparsity penalty on cuda-sim (kernels/cuda/gemm_tile.cuh): dense_forward
// with the penalty's column sums in its epilogue, and dense_backward adding the penalty's gradient
// as it loads dy. Each is checked twice: bit for bit against the unfused composition the Plan runs
// without fusion (dense_forward, then sparsity_forward; sparsity_backward, an add, then
// dense_backward), and within tolerance against the cpu reference. Shapes straddle the 64-row
// blocks whose partial sums the epilogue writes.
#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/contractive.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/sparsity.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/contractive.cuh"
#include "kernels/cuda/dense_bwd.cuh"
#include "kernels/cuda/dense_fwd.cuh"
#include "kernels/cuda/sparsity.cuh"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct CodePenaltyCase {
  SparsityKind kind;
  Act act;
  int64_t M, N, K;
  uint64_t seed = 1;
  bool noisy = false;  // a one-layer encoder's code layer: x corrupted on load as well

  SparsityParams params_() const { return {kind, kind == SparsityKind::kl ? 0.2f : 0.0f}; }
  std::string params() const {
    std::ostringstream os;
    os << "code_penalty(" << sparsity_kind_name(kind) << ",act=" << act_name(act) << ",M=" << M << ",N=" << N
       << ",K=" << K << (noisy ? ",mask" : "") << ",seed=" << seed << ")";
    return os.str();
  }
};

NoiseParams noise_of(const CodePenaltyCase& c) { return c.noisy ? NoiseParams{NoiseKind::mask, false, 0.3f} : NoiseParams{}; }

struct Inputs {
  std::vector<float> x, w, b, dy, dvalue;
  explicit Inputs(const CodePenaltyCase& c) {
    x = uniform(c.M * c.K, -1, 1, c.seed, 1);
    w = uniform(c.N * c.K, -1, 1, c.seed, 2);
    b = uniform(c.N, -0.5f, 0.5f, c.seed, 3);
    dy = uniform(c.M * c.N, -1, 1, c.seed, 4);
    dvalue = {0.7f};
  }
};

struct Forward {
  std::vector<float> y, colsum, value;
};

// fused: one dense_forward with the penalty; else dense_forward, then the unfused sparsity op.
Forward forward(const CodePenaltyCase& c, const Inputs& in, bool fused) {
  DeviceBuffer<float> x(in.x), w(in.w), b(in.b), y(c.M * c.N), colsum(c.N), value(1);
  DeviceBuffer<float> ws(size_t(ae::cuda::sparsity_workspace_floats(c.M, c.N)));
  StepScalars host_steps{};
  host_steps.seed = 5, host_steps.step = 3;
  DeviceBuffer<StepScalars> steps(std::vector<StepScalars>{host_steps});
  const NoiseParams noise = noise_of(c);
  if (fused) {
    ae::cuda::dense_forward<float>(x.get(), w.get(), b.get(), c.act, c.M, c.N, c.K, y.get(), nullptr, nullptr, noise,
                                   steps.get(), {c.params_(), colsum.get(), value.get(), ws.get()});
  } else {
    ae::cuda::dense_forward<float>(x.get(), w.get(), b.get(), c.act, c.M, c.N, c.K, y.get(), nullptr, nullptr, noise,
                                   steps.get());
    ae::cuda::sparsity_forward<float>(c.params_(), y.get(), c.M, c.N, colsum.get(), value.get(), ws.get(), nullptr);
  }
  expect_guards(c.params(), x, w, b, y, colsum, value, ws);
  return {y.download(), colsum.download(), value.download()};
}

struct Backward {
  std::vector<float> dw, db, dx;
};

// fused: dense_backward adds the penalty's gradient on load; else sparsity_backward into dy (an
// accumulate is the add the unfused plan runs), then the plain dense_backward.
Backward backward(const CodePenaltyCase& c, const Inputs& in, const Forward& f, bool fused) {
  DeviceBuffer<float> dy(in.dy), y(f.y), colsum(f.colsum), dvalue(in.dvalue), x(in.x), w(in.w);
  DeviceBuffer<float> dw(c.N * c.K), db(c.N), dx(c.M * c.K);
  StepScalars host_steps{};
  host_steps.seed = 5, host_steps.step = 3;
  DeviceBuffer<StepScalars> steps(std::vector<StepScalars>{host_steps});
  ae::cuda::CodePenaltyIn<float> pen{};
  if (fused) pen = {c.params_(), y.get(), colsum.get(), dvalue.get(), false};
  else ae::cuda::sparsity_backward<float>(c.params_(), dvalue.get(), y.get(), colsum.get(), c.M, c.N, dy.get(), true, nullptr);
  ae::cuda::dense_backward<float>(dy.get(), y.get(), nullptr, c.act, x.get(), w.get(), c.M, c.N, c.K, dw.get(), db.get(),
                                  dx.get(), false, false, nullptr, noise_of(c), steps.get(), pen);
  expect_guards(c.params(), dy, y, colsum, dvalue, x, w, dw, db, dx);
  return {dw.download(), db.download(), dx.download()};
}

class CodePenalty : public DeviceTestWithParam<CodePenaltyCase> {};

TEST_P(CodePenalty, FusedEqualsUnfusedBitForBitAndMatchesCpu) {
  const CodePenaltyCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const Inputs in(c);
  const Forward fused = forward(c, in, true), plain = forward(c, in, false);
  ASSERT_TRUE(nonzero("colsum", fused.colsum));
  EXPECT_TRUE(bitwise_equal("y", fused.y, plain.y));
  EXPECT_TRUE(bitwise_equal("colsum", fused.colsum, plain.colsum));
  EXPECT_TRUE(bitwise_equal("value", fused.value, plain.value));

  // The cpu reference from the same y (the GEMM itself is dense_fwd_test's business).
  std::vector<float> colsum_ref(c.N), value_ref(1);
  cpu::sparsity_forward<float>(c.params_(), fused.y.data(), c.M, c.N, colsum_ref.data(), value_ref.data());
  EXPECT_TRUE(compare("colsum vs cpu", fused.colsum, colsum_ref, tolerance<float>(), c.M, 1.0));
  EXPECT_TRUE(compare("value vs cpu", fused.value, value_ref, tolerance<float>(), c.M * c.N, 1.0));

  const Backward bf = backward(c, in, fused, true), bp = backward(c, in, fused, false);
  ASSERT_TRUE(nonzero("dw", bf.dw));
  // NaN equals NaN bitwise: every output must be written (a finite number), not merely equal.
  ASSERT_TRUE(finite("dw", bf.dw) && finite("db", bf.db) && finite("dx", bf.dx));
  EXPECT_TRUE(bitwise_equal("dw", bf.dw, bp.dw));
  EXPECT_TRUE(bitwise_equal("db", bf.db, bp.db));
  EXPECT_TRUE(bitwise_equal("dx", bf.dx, bp.dx));

  if (c.noisy) return;  // the cpu reference below reads the clean x
  std::vector<float> dz = in.dy, dw_ref(c.N * c.K), db_ref(c.N), dx_ref(c.M * c.K);
  cpu::sparsity_backward<float>(c.params_(), in.dvalue.data(), fused.y.data(), fused.colsum.data(), c.M, c.N, dz.data(), true);
  cpu::dense_backward<float>(dz.data(), fused.y.data(), nullptr, c.act, in.x.data(), in.w.data(), c.M, c.N, c.K, dz.data(),
                             dw_ref.data(), db_ref.data(), dx_ref.data(), false, false);
  const double scale = 1.0 + 0.7 * (c.kind == SparsityKind::kl ? 10.0 : 1.0);  // |dy + penalty gradient| bound
  EXPECT_TRUE(compare("dw vs cpu", bf.dw, dw_ref, tolerance<float>(), c.M, scale));
  EXPECT_TRUE(compare("db vs cpu", bf.db, db_ref, tolerance<float>(), c.M, scale));
  EXPECT_TRUE(compare("dx vs cpu", bf.dx, dx_ref, tolerance<float>(), c.N, scale));
}

std::vector<CodePenaltyCase> code_penalty_cases() {
  std::vector<CodePenaltyCase> v;
  uint64_t seed = 1;
  for (int64_t M : {1, 63, 64, 65, 130})
    for (int64_t N : {1, 17, 64, 67}) {
      v.push_back({SparsityKind::kl, Act::sigmoid, M, N, 33, seed++});
      v.push_back({SparsityKind::l1, seed % 2 ? Act::relu : Act::linear, M, N, 17, seed++});
    }
  v.push_back({SparsityKind::l1, Act::tanh, 257, 31, 5, seed++});
  v.push_back({SparsityKind::kl, Act::sigmoid, 70, 20, 40, seed++, true});  // corrupted x and a penalty together
  v.push_back({SparsityKind::l1, Act::relu, 129, 65, 19, seed++, true});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, CodePenalty, ::testing::ValuesIn(code_penalty_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// A one-layer encoder's contractive penalty: dense_backward adds its gradient at z after act′, as
// it loads dy. Bit for bit the composition the unfused plan runs (activation_grad, the penalty's
// contractive_grad accumulated onto it — the add — then a linear dense_backward), and within
// tolerance of the cpu reference.
struct ZPenaltyCase {
  Act act;
  int64_t M, N, K;
  uint64_t seed = 1;
  std::string params() const {
    std::ostringstream os;
    os << "contractive_on_load(act=" << act_name(act) << ",M=" << M << ",N=" << N << ",K=" << K << ",seed=" << seed << ")";
    return os.str();
  }
};

class ContractiveOnLoad : public DeviceTestWithParam<ZPenaltyCase> {};

TEST_P(ContractiveOnLoad, FusedEqualsUnfusedBitForBitAndMatchesCpu) {
  const ZPenaltyCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const std::vector<float> x = uniform(c.M * c.K, -1, 1, c.seed, 1), w = uniform(c.N * c.K, -1, 1, c.seed, 2);
  const std::vector<float> z = uniform(c.M * c.N, -2, 2, c.seed, 3), dy = uniform(c.M * c.N, -1, 1, c.seed, 4);
  const std::vector<float> norms = uniform(c.N, 0.5f, 3, c.seed, 5), dvalue = {0.3f};
  std::vector<float> y(z.size());
  for (size_t i = 0; i < z.size(); ++i) y[i] = act_forward(c.act, z[i]);
  auto run = [&](bool fused) {
    DeviceBuffer<float> dyb(dy), yb(y), zb(z), xb(x), wb(w), nb(norms), dvb(dvalue);
    DeviceBuffer<float> dw(c.N * c.K), db(c.N), dx(c.M * c.K);
    if (fused) {
      ae::cuda::dense_backward<float>(dyb.get(), yb.get(), zb.get(), c.act, xb.get(), wb.get(), c.M, c.N, c.K, dw.get(),
                                      db.get(), dx.get(), false, false, nullptr, {}, nullptr,
                                      {{}, zb.get(), nb.get(), dvb.get(), true});
    } else {
      DeviceBuffer<float> dz(c.M * c.N);
      ae::cuda::activation_backward<float>(c.act, dyb.get(), zb.get(), yb.get(), dz.get(), c.M * c.N, nullptr);
      ae::cuda::contractive_backward_z<float>(c.act, dvb.get(), zb.get(), nb.get(), c.M, c.N, dz.get(), true, nullptr);
      ae::cuda::dense_backward<float>(dz.get(), nullptr, nullptr, Act::linear, xb.get(), wb.get(), c.M, c.N, c.K,
                                      dw.get(), db.get(), dx.get(), false, false, nullptr);
    }
    expect_guards(c.params(), dyb, yb, zb, xb, wb, nb, dvb, dw, db, dx);
    return Backward{dw.download(), db.download(), dx.download()};
  };
  const Backward f = run(true), u = run(false);
  ASSERT_TRUE(nonzero("dw", f.dw));
  ASSERT_TRUE(finite("dw", f.dw) && finite("db", f.db) && finite("dx", f.dx));
  EXPECT_TRUE(bitwise_equal("dw", f.dw, u.dw));
  EXPECT_TRUE(bitwise_equal("db", f.db, u.db));
  EXPECT_TRUE(bitwise_equal("dx", f.dx, u.dx));

  std::vector<float> dz(dy.size()), dw_ref(c.N * c.K), db_ref(c.N), dx_ref(c.M * c.K);
  cpu::activation_backward<float>(c.act, dy.data(), z.data(), y.data(), dz.data(), c.M * c.N);
  cpu::contractive_backward_z<float>(c.act, dvalue.data(), z.data(), norms.data(), c.M, c.N, dz.data(), true);
  cpu::dense_backward<float>(dz.data(), nullptr, nullptr, Act::linear, x.data(), w.data(), c.M, c.N, c.K, dz.data(),
                             dw_ref.data(), db_ref.data(), dx_ref.data(), false, false);
  EXPECT_TRUE(compare("dw vs cpu", f.dw, dw_ref, tolerance<float>(), c.M, 3.0));
  EXPECT_TRUE(compare("db vs cpu", f.db, db_ref, tolerance<float>(), c.M, 3.0));
  EXPECT_TRUE(compare("dx vs cpu", f.dx, dx_ref, tolerance<float>(), c.N, 3.0));
}

std::vector<ZPenaltyCase> z_penalty_cases() {
  std::vector<ZPenaltyCase> v;
  uint64_t seed = 1;
  for (int a = 0; a < ACT_COUNT; ++a) v.push_back({static_cast<Act>(a), 65, 17, 33, seed++});
  for (int64_t M : {1, 64, 130})
    for (int64_t N : {1, 64, 67}) v.push_back({Act::tanh, M, N, 19, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, ContractiveOnLoad, ::testing::ValuesIn(z_penalty_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

}  // namespace
}  // namespace ae::cudatest
