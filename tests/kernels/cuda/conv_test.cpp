// ae::cuda::conv2d_forward/backward on cuda-sim against ae::cpu's: ordinary and transposed
// convolutions over a sweep of kernel 1/3/5 × stride 1/2/3 × padding 0/1/2 × dilation 1/2 on odd
// planes (7×9, 13×11), 1 and 3 channels, batch 1 and 3, in exact mode (small integers: every sum
// is exact in fp32, so the implicit GEMMs' results are bit-equal); every activation on random
// floats within tolerance.h's bounds; the classic 28×28 encoder's layers and their transposed
// mirrors; accumulate flags; each gradient alone (dw, db or dx null); a determinism check; argument
// errors.
#include "kernels/cuda/conv.cuh"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/conv.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

struct ConvCase {
  cpu::ConvGeometry g;
  Act act = Act::relu;
  bool bias = true;
  bool keep_z = true;   // forward keeps z; backward takes act′ from z (else from y)
  bool with_dx = true;
  bool with_dw = true;  // false: dw (and x) null, the data gradient and/or db alone
  bool acc_dw = false, acc_db = false;
  bool exact = false;  // small integers: z, dW, db, dx bit-equal (backward: linear/relu only)
  uint64_t seed = 1;

  std::string params() const {
    std::ostringstream os;
    os << (g.transposed ? "conv_transpose2d" : "conv2d") << "(N=" << g.batch << ",C=" << g.in_c << ",H=" << g.in_h
       << ",W=" << g.in_w << ",O=" << g.out_c << ",k=" << g.k_h << "x" << g.k_w << ",s=" << g.stride_h << "x"
       << g.stride_w << ",p=" << g.pad_h << "x" << g.pad_w << ",d=" << g.dil_h << "x" << g.dil_w;
    if (g.transposed) os << ",op=" << g.out_pad_h << "x" << g.out_pad_w;
    os << ",act=" << act_name(act) << ",bias=" << bias << ",z=" << keep_z << ",dx=" << with_dx;
    if (!with_dw) os << ",dw=0";
    os << ",acc_dw=" << acc_dw << ",acc_db=" << acc_db << (exact ? ",exact" : "") << ",seed=" << seed << ")";
    return os.str();
  }
  // The reduction lengths of the three GEMMs (tolerance.h's K).
  int64_t k_fwd() const { return (g.transposed ? g.out_c : g.in_c) * g.k_h * g.k_w; }
  int64_t k_dx() const { return (g.transposed ? g.in_c : g.out_c) * g.k_h * g.k_w; }
  int64_t k_dw() const { return g.batch * (g.transposed ? g.in_h * g.in_w : g.out_h() * g.out_w()); }
  double flops() const { return 2.0 * g.y_size() * (g.transposed ? g.out_c : g.in_c) * g.k_h * g.k_w; }
  double bytes() const { return 4.0 * (g.x_size() + g.w_size() + 2 * g.y_size()); }
};

bool piecewise_linear(Act a) { return a == Act::linear || a == Act::relu || a == Act::leaky_relu; }

struct ConvData {
  std::vector<float> x, w, b, dy, z, y, dw0, db0;
  explicit ConvData(const ConvCase& c) {
    const cpu::ConvGeometry& g = c.g;
    auto gen = [&](size_t n, float lo, float hi, uint64_t salt) {
      return c.exact ? small_ints(n, int(lo), int(hi), c.seed, salt) : uniform(n, lo / 3, hi / 3, c.seed, salt);
    };
    x = gen(g.x_size(), -3, 3, 1);
    w = gen(g.w_size(), -3, 3, 2);
    b = gen(g.out_c, -9, 9, 3);
    dy = gen(g.y_size(), -3, 3, 4);
    z = gen(g.y_size(), -4, 4, 5);  // the backward's pre-activation (and y = act(z))
    dw0 = gen(g.w_size(), -9, 9, 6);
    db0 = gen(g.out_c, -9, 9, 7);
    y.resize(z.size());
    for (size_t i = 0; i < z.size(); ++i) y[i] = act_forward(c.act, z[i]);
  }
};

template <typename... BUFS>
void name_all(const BUFS&... bufs) {
  (name_for_memcheck(bufs, "conv buffer"), ...);
}

class ConvFwd : public DeviceTestWithParam<ConvCase> {};

TEST_P(ConvFwd, MatchesCpuReference) {
  const ConvCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const ConvData d(c);
  std::vector<float> y_ref(c.g.y_size()), z_ref(c.g.y_size());
  cpu::conv2d_forward<float>(c.g, d.x.data(), d.w.data(), c.bias ? d.b.data() : nullptr, c.act, y_ref.data(),
                             z_ref.data());
  DeviceBuffer<float> x(d.x), w(d.w), b(d.b), y(c.g.y_size()), z(c.g.y_size());
  name_all(x, w, b, y, z);
  ae::cuda::conv2d_forward<float>(c.g, x.get(), w.get(), c.bias ? b.get() : nullptr, c.act, y.get(),
                                  c.keep_z ? z.get() : nullptr, nullptr);
  expect_guards(c.params(), x, w, b, y, z);
  const std::vector<float> y_got = y.download(), z_got = z.download();

  FailureDump dump(c.params());
  dump.add("x", d.x), dump.add("w", d.w), dump.add("b", d.b);
  dump.add("y_ref", y_ref), dump.add("y", y_got), dump.add("z_ref", z_ref), dump.add("z", z_got);
  ASSERT_TRUE(nonzero("z_ref", z_ref));
  ASSERT_TRUE(finite("z_ref", z_ref));
  const double scale = max_abs(d.x) * max_abs(d.w);
  const Tolerance y_tol = c.exact && piecewise_linear(c.act) ? exact_tolerance() : tolerance<float>();
  EXPECT_TRUE(compare("y", y_got, y_ref, y_tol, c.k_fwd(), scale));
  if (c.keep_z) EXPECT_TRUE(compare("z", z_got, z_ref, c.exact ? exact_tolerance() : tolerance<float>(), c.k_fwd(), scale));
}

struct ConvBwdOut {
  std::vector<float> dw, db, dx;
};

ConvBwdOut run_backward(const ConvCase& c, const ConvData& d) {
  DeviceBuffer<float> dy(d.dy), y(d.y), z(d.z), x(d.x), w(d.w), dw(c.g.w_size()), db(c.g.out_c), dx(c.g.x_size());
  name_all(dy, y, z, x, w, dw, db, dx);
  if (c.acc_dw) dw.upload(d.dw0);
  if (c.acc_db) db.upload(d.db0);
  // x and w go in only when a gradient that reads them is wanted.
  ae::cuda::conv2d_backward<float>(c.g, dy.get(), y.get(), c.keep_z ? z.get() : nullptr, c.act,
                                   c.with_dw ? x.get() : nullptr, c.with_dx ? w.get() : nullptr,
                                   c.with_dw ? dw.get() : nullptr, c.bias ? db.get() : nullptr,
                                   c.with_dx ? dx.get() : nullptr, c.acc_dw, c.acc_db, nullptr);
  expect_guards(c.params(), dy, y, z, x, w, dw, db, dx);
  EXPECT_TRUE(bitwise_equal("dy (must be untouched)", dy.download(), d.dy));
  return {dw.download(), db.download(), dx.download()};
}

class ConvBwd : public DeviceTestWithParam<ConvCase> {};

TEST_P(ConvBwd, MatchesCpuReference) {
  const ConvCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const ConvData d(c);
  std::vector<float> dz(c.g.y_size()), dw_ref = c.acc_dw ? d.dw0 : std::vector<float>(c.g.w_size()),
                                       db_ref = c.acc_db ? d.db0 : std::vector<float>(c.g.out_c),
                                       dx_ref(c.g.x_size());
  cpu::conv2d_backward<float>(c.g, d.dy.data(), d.y.data(), c.keep_z ? d.z.data() : nullptr, c.act, d.x.data(),
                              d.w.data(), dz.data(), c.with_dw ? dw_ref.data() : nullptr,
                              c.bias ? db_ref.data() : nullptr, c.with_dx ? dx_ref.data() : nullptr, c.acc_dw,
                              c.acc_db);
  const ConvBwdOut got = run_backward(c, d);

  FailureDump dump(c.params());
  dump.add("dy", d.dy), dump.add("z", d.z), dump.add("x", d.x), dump.add("w", d.w), dump.add("dz_ref", dz);
  dump.add("dw_ref", dw_ref), dump.add("dw", got.dw), dump.add("db_ref", db_ref), dump.add("db", got.db);
  dump.add("dx_ref", dx_ref), dump.add("dx", got.dx);
  const Tolerance tol = c.exact ? exact_tolerance() : tolerance<float>();
  const double dz_max = max_abs(dz);
  ASSERT_TRUE(nonzero("dz", dz));
  if (c.with_dw) {
    ASSERT_TRUE(nonzero("dw_ref", dw_ref));
    ASSERT_TRUE(finite("dw_ref", dw_ref));
    EXPECT_TRUE(compare("dw", got.dw, dw_ref, tol, c.k_dw(), dz_max * max_abs(d.x)));
  } else {
    for (float e : got.dw) ASSERT_TRUE(std::isnan(e)) << "dw written although null was passed";
  }
  if (c.bias) EXPECT_TRUE(compare("db", got.db, db_ref, tol, c.k_dw(), dz_max));
  if (c.with_dx) {
    ASSERT_TRUE(nonzero("dx_ref", dx_ref));
    EXPECT_TRUE(compare("dx", got.dx, dx_ref, tol, c.k_dx(), dz_max * max_abs(d.w)));
  } else {
    for (float e : got.dx) ASSERT_TRUE(std::isnan(e)) << "dx written although null was passed";
  }
}

cpu::ConvGeometry geom(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t k, int64_t s, int64_t p,
                       int64_t d = 1, bool transposed = false, int64_t op = 0) {
  cpu::ConvGeometry g{n, c, h, w, o, k, k};
  g.stride_h = g.stride_w = s, g.pad_h = g.pad_w = p, g.dil_h = g.dil_w = d;
  g.out_pad_h = g.out_pad_w = op, g.transposed = transposed;
  return g;
}

bool valid(const cpu::ConvGeometry& g) {
  try {
    g.validate();
    return true;
  } catch (const ae::Error&) {
    return false;
  }
}

// The sweep: every kernel × stride × padding × dilation, ordinary and transposed, with the plane,
// channels, batch and activation rotating through their choices (so every value meets several of
// the others) and rectangular variants (kernel 3×5 / stride 2×1) mixed in; exact mode. Geometries
// PyTorch refuses are skipped. For backward, act is linear or relu (act′ ∈ {0, 1} keeps it exact).
std::vector<ConvCase> sweep(bool backward) {
  std::vector<ConvCase> v;
  const int64_t planes[2][2] = {{7, 9}, {13, 11}};
  const Act acts[3] = {Act::relu, Act::linear, Act::leaky_relu};
  uint64_t i = 0;
  for (int64_t k : {1, 3, 5})
    for (int64_t s : {1, 2, 3})
      for (int64_t p : {0, 1, 2})
        for (int64_t d : {1, 2})
          for (bool tr : {false, true}) {
            ++i;
            const int64_t* hw = planes[i % 2];
            const int64_t c = (i / 2) % 2 ? 3 : 1, o = (i / 3) % 2 ? 3 : 1, n = (i / 5) % 2 ? 3 : 1;
            cpu::ConvGeometry g = tr ? geom(n, c, hw[0] / 2 + 1, hw[1] / 2, o, k, s, p, d, true, s > 1 ? i % 2 : 0)
                                     : geom(n, c, hw[0], hw[1], o, k, s, p, d);
            if (i % 7 == 0) g.k_w = k == 1 ? 2 : k - 1;  // rectangular kernels
            if (i % 5 == 0) g.stride_w = s == 1 ? 2 : 1, g.out_pad_w = 0;
            if (!valid(g)) continue;
            ConvCase cc{g};
            cc.act = backward ? (i % 2 ? Act::relu : Act::linear) : acts[i % 3];
            cc.bias = i % 4 != 1;
            cc.keep_z = i % 3 != 2;
            cc.with_dx = i % 6 != 5;
            cc.acc_dw = backward && i % 4 == 2, cc.acc_db = backward && i % 4 == 3;
            cc.exact = true;
            cc.seed = i;
            v.push_back(cc);
          }
  return v;
}

// The classic 28×28 encoder (1→16 k3 s2 p1, 16→32 k3 s2 p1, 32→64 k7) and its transposed mirror.
std::vector<ConvCase> classic(bool exact, uint64_t seed) {
  std::vector<ConvCase> v;
  for (const cpu::ConvGeometry& g :
       {geom(3, 1, 28, 28, 16, 3, 2, 1), geom(3, 16, 14, 14, 32, 3, 2, 1), geom(2, 32, 7, 7, 64, 7, 1, 0),
        geom(2, 64, 1, 1, 32, 7, 1, 0, 1, true), geom(3, 32, 7, 7, 16, 3, 2, 1, 1, true, 1),
        geom(3, 16, 14, 14, 1, 3, 2, 1, 1, true, 1)}) {
    ConvCase c{g};
    c.act = exact ? Act::relu : Act::sigmoid;
    c.exact = exact;
    c.seed = seed++;
    v.push_back(c);
  }
  return v;
}

// Every activation on random floats, act′ from z and from y, over an odd strided layer of each kind.
std::vector<ConvCase> every_activation(uint64_t seed) {
  std::vector<ConvCase> v;
  for (int a = 0; a < ACT_COUNT; ++a)
    for (bool tr : {false, true}) {
      ConvCase c{tr ? geom(3, 3, 5, 6, 3, 3, 2, 1, 1, true, 1) : geom(3, 3, 13, 11, 3, 3, 2, 1, 2)};
      c.act = static_cast<Act>(a);
      c.keep_z = a % 2 == 0 || c.act == Act::gelu;  // gelu's act′ needs z
      c.acc_dw = a % 3 == 1, c.acc_db = a % 3 == 2;
      c.seed = seed++;
      v.push_back(c);
    }
  return v;
}

// Each gradient alone, as the graph runs them, on odd strided layers of both kinds: the data
// gradient alone (dw, db, x null; linear, as a graph splits act′ off, and relu), the weight and
// bias gradients alone (dx, w null), and db alone (a Conv2d's then comes from the channel-sum
// kernel, not the weight pass); exact and on random floats.
std::vector<ConvCase> gradients_alone(uint64_t seed) {
  std::vector<ConvCase> v;
  for (bool tr : {false, true})
    for (bool exact : {true, false}) {
      const cpu::ConvGeometry g = tr ? geom(3, 3, 5, 6, 7, 3, 2, 1, 1, true, 1) : geom(3, 3, 13, 11, 7, 3, 2, 1, 2);
      for (int mode = 0; mode < 4; ++mode) {
        ConvCase c{g};
        c.exact = exact, c.seed = seed++;
        c.act = mode == 1 || (mode == 3 && !exact) ? Act::relu : Act::linear;
        c.keep_z = mode != 1;
        c.with_dw = mode >= 2 ? mode == 2 : false;  // 0, 1: data alone; 2: dw + db; 3: db alone
        c.with_dx = mode < 2;
        c.bias = mode >= 2;
        c.acc_db = mode == 3 && exact;
        v.push_back(c);
      }
    }
  return v;
}

std::vector<ConvCase> fwd_cases() {
  std::vector<ConvCase> v = sweep(false);
  for (auto& c : classic(true, 1000)) v.push_back(c);
  for (auto& c : classic(false, 1100)) v.push_back(c);
  for (auto& c : every_activation(1200)) v.push_back(c);
  return v;
}

std::vector<ConvCase> bwd_cases() {
  std::vector<ConvCase> v = sweep(true);
  for (auto& c : classic(true, 2000)) v.push_back(c);
  for (auto& c : classic(false, 2100)) v.push_back(c);
  for (auto& c : every_activation(2200)) v.push_back(c);
  for (auto& c : gradients_alone(2400)) v.push_back(c);
  // GEMM tile edges: 65 output channels (S past one tile), 64·2+1 positions, a 16·k + 1 reduction.
  ConvCase edge{geom(1, 17, 9, 15, 65, 1, 1, 0)};
  edge.exact = true, edge.seed = 2300;
  v.push_back(edge);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvFwd, ::testing::ValuesIn(fwd_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });
INSTANTIATE_TEST_SUITE_P(Cases, ConvBwd, ::testing::ValuesIn(bwd_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// Two runs under different sim schedules give the same bits (db and dW sums in a fixed order).
class ConvDeterminism : public DeviceTest {};
TEST_F(ConvDeterminism, TwoSchedulesBitEqual) {
  for (bool tr : {false, true}) {
    ConvCase c{tr ? geom(3, 4, 6, 5, 5, 3, 2, 1, 1, true, 1) : geom(3, 4, 13, 11, 5, 3, 2, 1)};
    c.act = Act::tanh, c.seed = tr ? 31 : 32;
    SCOPED_TRACE(c.params());
    const ConvData d(c);
    ConvBwdOut a, b;
    with_sim_seed(101, [&] { a = run_backward(c, d); });
    with_sim_seed(202, [&] { b = run_backward(c, d); });
    ASSERT_TRUE(nonzero("db", a.db));
    EXPECT_TRUE(bitwise_equal("dw", a.dw, b.dw));
    EXPECT_TRUE(bitwise_equal("db", a.db, b.db));
    EXPECT_TRUE(bitwise_equal("dx", a.dx, b.dx));
  }
}

class ConvEdge : public DeviceTest {};
TEST_F(ConvEdge, EmptyBatchZeroesGradientsAndWritesNoOutput) {
  for (bool tr : {false, true}) {
    const cpu::ConvGeometry g = geom(0, 2, 5, 5, 3, 3, 1, 1, 1, tr);
    DeviceBuffer<float> x(1), y(1), dy(1), w(g.w_size()), dw(g.w_size()), db(3), db_acc(std::vector<float>{1, 2, 3});
    ae::cuda::conv2d_forward<float>(g, x.get(), w.get(), nullptr, Act::relu, y.get(), nullptr, nullptr);
    EXPECT_TRUE(std::isnan(y.download()[0]));
    ae::cuda::conv2d_backward<float>(g, dy.get(), y.get(), nullptr, Act::relu, x.get(), w.get(), dw.get(), db.get(),
                                     x.get(), false, false, nullptr);
    for (float e : dw.download()) EXPECT_EQ(e, 0.0f);
    for (float e : db.download()) EXPECT_EQ(e, 0.0f);
    ae::cuda::conv2d_backward<float>(g, dy.get(), y.get(), nullptr, Act::relu, x.get(), w.get(), dw.get(),
                                     db_acc.get(), nullptr, false, true, nullptr);
    EXPECT_EQ(db_acc.download(), (std::vector<float>{1, 2, 3}));
  }
}

TEST_F(ConvEdge, BadArgumentsAreErrors) {
  const cpu::ConvGeometry g = geom(1, 1, 5, 5, 1, 3, 1, 0);
  DeviceBuffer<float> x(25), w(9), y(9), dw(9);
  EXPECT_THROW(ae::cuda::conv2d_forward<float>(geom(1, 1, 2, 2, 1, 3, 1, 0), x.get(), w.get(), nullptr, Act::relu,
                                               y.get(), nullptr, nullptr),
               ae::Error);  // kernel larger than the input
  EXPECT_THROW(ae::cuda::conv2d_forward<float>(g, x.get(), w.get(), nullptr, Act::relu, nullptr, nullptr, nullptr),
               ae::Error);
  EXPECT_THROW(ae::cuda::conv2d_backward<float>(g, y.get(), y.get(), nullptr, Act::gelu, x.get(), w.get(), dw.get(),
                                                nullptr, nullptr, false, false, nullptr),
               ae::Error);  // gelu's act′ needs z
  EXPECT_THROW(ae::cuda::conv2d_backward<float>(g, y.get(), nullptr, nullptr, Act::linear, nullptr, w.get(), dw.get(),
                                                nullptr, nullptr, false, false, nullptr),
               ae::Error);  // dw reads x
  EXPECT_THROW(ae::cuda::conv2d_backward<float>(g, y.get(), nullptr, nullptr, Act::linear, x.get(), nullptr, nullptr,
                                                nullptr, x.get(), false, false, nullptr),
               ae::Error);  // dx reads w
}

}  // namespace
}  // namespace ae::cudatest
