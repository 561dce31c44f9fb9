// The cpu convolution layer (kernels/cpu/conv.h), ordinary and transposed: output sizes and every
// validate() message; hand-computed outputs; fp64 central-difference checks of dx, dW and db on odd
// shapes (odd H/W, strides 1–3, padding 0–2, dilation 1–2, kernels 1/3/5, 1 and 3 channels, batch
// 1 and 3, output padding) and through every activation; float (oneDNN) against the double loops
// with conv_check.h's tolerance, and bit-exact on small integers; accumulation flags, dz aliasing
// dy, each gradient computed alone, empty batches, determinism and concurrent calls. Outputs start
// as NaN: unwritten ones fail.
#include "kernels/cpu/conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/common/error.h"
#include "tests/kernels/conv_check.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using convtest::cast;
using convtest::close_to_reference;
using convtest::max_abs;

const Act ALL_ACTS[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh,
                        Act::selu,   Act::elu,  Act::softplus,   Act::gelu};

ConvGeometry conv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kh, int64_t kw, int64_t sh,
                  int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1, int64_t dw = 1) {
  return ConvGeometry{N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, 0, 0, false};
}

ConvGeometry tconv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kh, int64_t kw, int64_t sh,
                   int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t oph, int64_t opw) {
  return ConvGeometry{N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, oph, opw, true};
}

std::string name(const ConvGeometry& g) {
  std::ostringstream s;
  s << (g.transposed ? "conv_transpose2d" : "conv2d") << "(N=" << g.batch << ",C=" << g.in_c << ",H=" << g.in_h
    << ",W=" << g.in_w << ",O=" << g.out_c << ",k=" << g.k_h << "x" << g.k_w << ",s=" << g.stride_h << "x"
    << g.stride_w << ",p=" << g.pad_h << "x" << g.pad_w << ",d=" << g.dil_h << "x" << g.dil_w;
  if (g.transposed) s << ",op=" << g.out_pad_h << "x" << g.out_pad_w;
  s << ")";
  return s.str();
}

// Odd shapes for both kinds: every stride 1–3, padding 0–2, dilation 1–2, kernel 1/3/5 and a
// non-square one, 1 and 3 channels, batch 1 and 3. The transposed ones include an output padding
// equal to the stride but below the dilation (PyTorch allows it; oneDNN cannot express it, so the
// float path takes the loops there).
const ConvGeometry CONV_CASES[] = {
    conv(1, 1, 7, 9, 2, 3, 3, 1, 1, 0, 0),        conv(3, 3, 7, 9, 2, 3, 3, 2, 2, 1, 1),
    conv(1, 3, 13, 11, 3, 5, 5, 3, 3, 2, 2),      conv(3, 1, 13, 11, 1, 3, 3, 2, 2, 2, 2, 2, 2),
    conv(1, 3, 7, 9, 1, 1, 1, 1, 1, 0, 0),        conv(3, 3, 9, 7, 2, 3, 5, 2, 3, 0, 1, 2, 1),
};
const ConvGeometry TCONV_CASES[] = {
    tconv(1, 2, 4, 5, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),  tconv(3, 3, 3, 4, 2, 3, 3, 3, 3, 0, 0, 1, 1, 2, 2),
    tconv(1, 1, 5, 3, 3, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0),  tconv(3, 3, 4, 3, 2, 3, 3, 1, 1, 1, 1, 2, 2, 1, 1),
    tconv(1, 3, 5, 7, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0),  tconv(3, 1, 3, 5, 3, 3, 5, 2, 3, 1, 2, 2, 1, 1, 2),
};
// The classic 28×28 encoder's layers and the transposed mirror at a small batch (the float path's
// blocked and plain oneDNN layouts, and the k7 layer oneDNN runs as an inner product).
const ConvGeometry CLASSIC_CASES[] = {
    conv(3, 1, 28, 28, 16, 3, 3, 2, 2, 1, 1),           conv(3, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1),
    conv(3, 32, 7, 7, 64, 7, 7, 1, 1, 0, 0),            tconv(3, 64, 1, 1, 32, 7, 7, 1, 1, 0, 0, 1, 1, 0, 0),
    tconv(3, 32, 7, 7, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), tconv(3, 16, 14, 14, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
};

// One layer's inputs and the weights c of the scalar loss L = Σ c ⊙ y (so dy = c).
struct Layer {
  ConvGeometry g;
  std::vector<double> x, w, b, c;
  Layer(const ConvGeometry& geom, uint64_t seed, bool ints = false) : g(geom) {
    auto draw = [&](int64_t n, uint64_t s) {
      return ints ? convtest::small_ints(n, s) : convtest::uniform(n, s);
    };
    x = draw(g.x_size(), seed);
    w = draw(g.w_size(), seed + 1);
    b = draw(g.out_c, seed + 2);
    c = draw(g.y_size(), seed + 3);
  }
  std::vector<double> forward(Act act, std::vector<double>* z = nullptr, bool bias = true) const {
    std::vector<double> y(g.y_size(), NAN);
    if (z) z->assign(g.y_size(), NAN);
    conv2d_forward<double>(g, x.data(), w.data(), bias ? b.data() : nullptr, act, y.data(), z ? z->data() : nullptr);
    return y;
  }
  double loss(Act act, bool bias) const { return gradcheck::dot(c, forward(act, nullptr, bias)); }
  double min_abs_preact() const {
    std::vector<double> z;
    forward(Act::linear, &z);
    double m = 1e300;
    for (double v : z) m = std::min(m, std::fabs(v));
    return m;
  }
};

// dx, dW and db of L = Σ c ⊙ act(conv(x) + b) against central differences, act′ from z or from y.
void check_gradients(const ConvGeometry& g, Act act, bool keep_z, bool bias, uint64_t seed) {
  SCOPED_TRACE(name(g) + " act=" + act_name(act) + (keep_z ? " z kept" : " from y") + (bias ? "" : " no bias"));
  Layer L(g, seed);
  // A central difference (h = 1e-6) must not straddle a kink at z = 0: redraw until none is near.
  for (uint64_t s = seed + 10; L.min_abs_preact() < 1e-3; s += 10) L = Layer(g, s);
  std::vector<double> z;
  const std::vector<double> y = L.forward(act, &z, bias);
  std::vector<double> dz(g.y_size(), NAN), dw(g.w_size(), NAN), db(g.out_c, NAN), dx(g.x_size(), NAN);
  conv2d_backward<double>(g, L.c.data(), keep_z ? nullptr : y.data(), keep_z ? z.data() : nullptr, act, L.x.data(),
                          L.w.data(), dz.data(), dw.data(), bias ? db.data() : nullptr, dx.data(), false, false);
  auto loss = [&] { return L.loss(act, bias); };
  EXPECT_TRUE(gradcheck::all_near("dx", dx, gradcheck::numeric_grad(L.x, loss), 1e-7));
  EXPECT_TRUE(gradcheck::all_near("dW", dw, gradcheck::numeric_grad(L.w, loss), 1e-7));
  if (bias) EXPECT_TRUE(gradcheck::all_near("db", db, gradcheck::numeric_grad(L.b, loss), 1e-7));
  else EXPECT_TRUE(std::isnan(db[0])) << "db written without a bias";
}

// Reduction lengths of each output, for the tolerance: y sums in_c·kh·kw terms, dx out_c·kh·kw
// (both kinds: the transposed layer's y is the other one's data gradient), dW one per batch element
// and position of the small side, db one per batch element and output position.
struct Lengths {
  int64_t y, dx, dw, db;
  explicit Lengths(const ConvGeometry& g)
      : y(g.in_c * g.k_h * g.k_w),
        dx(g.out_c * g.k_h * g.k_w),
        dw(g.batch * (g.transposed ? g.in_h * g.in_w : g.out_h() * g.out_w())),
        db(g.batch * g.out_h() * g.out_w()) {}
};

// The float layer (oneDNN) against the double one on the same inputs: forward y and z, then the
// backward from the double's z (as float) so that both differentiate at the same points.
void check_float_matches_double(const ConvGeometry& g, Act act, uint64_t seed, bool exact) {
  SCOPED_TRACE(name(g) + " act=" + act_name(act) + (exact ? " exact" : ""));
  Layer L(g, seed, exact);
  std::vector<double> z;
  const std::vector<double> y = L.forward(act, &z);
  std::vector<double> dz(g.y_size(), NAN), dw(g.w_size(), NAN), db(g.out_c, NAN), dx(g.x_size(), NAN);
  conv2d_backward<double>(g, L.c.data(), y.data(), z.data(), act, L.x.data(), L.w.data(), dz.data(), dw.data(),
                          db.data(), dx.data(), false, false);

  const auto xf = cast<float>(L.x), wf = cast<float>(L.w), bf = cast<float>(L.b), cf = cast<float>(L.c);
  std::vector<float> yf(g.y_size(), NAN), zf(g.y_size(), NAN), yf2(g.y_size(), NAN);
  conv2d_forward<float>(g, xf.data(), wf.data(), bf.data(), act, yf.data(), zf.data());
  conv2d_forward<float>(g, xf.data(), wf.data(), bf.data(), act, yf2.data(), nullptr);  // act in the epilogue
  const auto zd = cast<float>(z), yd = cast<float>(y);
  std::vector<float> dzf(g.y_size(), NAN), dwf(g.w_size(), NAN), dbf(g.out_c, NAN), dxf(g.x_size(), NAN);
  conv2d_backward<float>(g, cf.data(), yd.data(), zd.data(), act, xf.data(), wf.data(), dzf.data(), dwf.data(),
                         dbf.data(), dxf.data(), false, false);

  const Lengths K(g);
  const double xs = max_abs(L.x), ws = max_abs(L.w), gs = max_abs(dz);
  const double fwd_scale = std::max(xs * ws, max_abs(L.b));
  EXPECT_TRUE(close_to_reference("z", zf, z, K.y, fwd_scale, exact));
  EXPECT_TRUE(close_to_reference("y", yf, y, K.y, fwd_scale, exact));
  EXPECT_TRUE(close_to_reference("y without z", yf2, y, K.y, fwd_scale, exact));
  EXPECT_TRUE(close_to_reference("db", dbf, db, K.db, gs, exact));
  EXPECT_TRUE(close_to_reference("dW", dwf, dw, K.dw, gs * xs, exact));
  EXPECT_TRUE(close_to_reference("dx", dxf, dx, K.dx, gs * ws, exact));
}

TEST(ConvGeometry, OutputSizesArePyTorchs) {
  EXPECT_EQ(conv(1, 1, 28, 28, 16, 3, 3, 2, 2, 1, 1).out_h(), 14);
  EXPECT_EQ(conv(1, 1, 7, 7, 16, 7, 7, 1, 1, 0, 0).out_w(), 1);
  EXPECT_EQ(conv(1, 1, 13, 11, 1, 3, 3, 2, 2, 2, 2, 2, 2).out_h(), 7);  // ⌊(13 + 4 − 4 − 1)/2⌋ + 1
  EXPECT_EQ(conv(1, 1, 13, 11, 1, 3, 3, 2, 2, 2, 2, 2, 2).out_w(), 6);  // ⌊(11 + 4 − 4 − 1)/2⌋ + 1
  EXPECT_EQ(conv(1, 1, 9, 7, 1, 3, 5, 2, 3, 0, 1, 2, 1).out_h(), 3);    // ⌊(9 − 4 − 1)/2⌋ + 1
  EXPECT_EQ(conv(1, 1, 9, 7, 1, 3, 5, 2, 3, 0, 1, 2, 1).out_w(), 2);    // ⌊(7 + 2 − 4 − 1)/3⌋ + 1
  EXPECT_EQ(tconv(1, 1, 1, 1, 1, 7, 7, 1, 1, 0, 0, 1, 1, 0, 0).out_h(), 7);
  EXPECT_EQ(tconv(1, 1, 7, 7, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1).out_h(), 14);  // (7−1)·2 − 2 + 2 + 1 + 1
  EXPECT_EQ(tconv(1, 1, 3, 5, 1, 3, 5, 2, 3, 1, 2, 2, 1, 1, 2).out_h(), 8);   // 4 − 2 + 4 + 1 + 1
  EXPECT_EQ(tconv(1, 1, 3, 5, 1, 3, 5, 2, 3, 1, 2, 2, 1, 1, 2).out_w(), 15);  // 12 − 4 + 4 + 2 + 1
}

TEST(ConvGeometry, ValidateNamesTheProblemAndBothShapes) {
  struct Bad {
    ConvGeometry g;
    const char* says;
  };
  const Bad bad[] = {
      {conv(1, 0, 7, 7, 2, 3, 3, 1, 1, 0, 0), "must be ≥ 1"},
      {conv(1, 1, 7, 7, 2, 0, 3, 1, 1, 0, 0), "must be ≥ 1"},
      {conv(-1, 1, 7, 7, 2, 3, 3, 1, 1, 0, 0), "negative batch"},
      {conv(1, 1, 7, 7, 2, 3, 3, 0, 1, 0, 0), "stride 0×1"},
      {conv(1, 1, 7, 7, 2, 3, 3, 1, 1, 0, 0, 1, 0), "dilation 1×0"},
      {conv(1, 1, 7, 7, 2, 3, 3, 1, 1, -1, 0), "padding -1×0"},
      {conv(1, 3, 4, 5, 2, 7, 3, 1, 1, 1, 0), "kernel 7×3 (dilated 7×3) is larger than the padded input 6×5"},
      {conv(1, 3, 5, 5, 2, 3, 3, 1, 1, 0, 0, 3, 1), "(dilated 7×3) is larger than the padded input 5×5"},
      {ConvGeometry{1, 1, 7, 7, 2, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false}, "for transposed convolutions only"},
      {tconv(1, 1, 7, 7, 2, 3, 3, 2, 2, 0, 0, 1, 1, 2, 0), "smaller than either the stride 2×2 or the dilation"},
      {tconv(1, 1, 7, 7, 2, 3, 3, 1, 1, 0, 0, 2, 2, 0, 2), "smaller than either the stride"},
      {tconv(1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0), "output -1×-1 is empty"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(name(b.g));
    try {
      b.g.validate();
      ADD_FAILURE() << "expected ae::Error containing: " << b.says;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(b.says), std::string::npos) << msg;
      if (b.g.batch >= 0) {
        EXPECT_NE(msg.find("input [1,"), std::string::npos) << msg;
        EXPECT_NE(msg.find("weight ["), std::string::npos) << msg;
      }
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    }
  }
  // The layer entry points validate too; output padding below the dilation (but not the stride) is valid.
  std::vector<float> v(1000, 0.f);
  EXPECT_THROW(conv2d_forward<float>(bad[6].g, v.data(), v.data(), nullptr, Act::linear, v.data(), nullptr), Error);
  EXPECT_NO_THROW(tconv(1, 1, 7, 7, 2, 3, 3, 1, 1, 0, 0, 2, 2, 1, 1).validate());
}

// Values worked out by hand: a 2×2 all-ones kernel over 1..9 (stride 1), and a transposed 2×2
// kernel 1 2 / 3 4 stamped (stride 2) by a 1×2 input 1, 10 with bias 0.5.
TEST(Conv2d, HandComputed) {
  const ConvGeometry g = conv(1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0);
  const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w{1, 1, 1, 1};
  std::vector<double> y(4, NAN);
  conv2d_forward<double>(g, x.data(), w.data(), nullptr, Act::linear, y.data(), nullptr);
  EXPECT_EQ(y, (std::vector<double>{12, 16, 24, 28}));
  std::vector<float> yf(4, NAN);
  const auto xf = cast<float>(x), wf = cast<float>(w);
  conv2d_forward<float>(g, xf.data(), wf.data(), nullptr, Act::linear, yf.data(), nullptr);
  EXPECT_EQ(yf, (std::vector<float>{12, 16, 24, 28}));

  const ConvGeometry t = tconv(1, 1, 1, 2, 1, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0);
  const std::vector<double> tx{1, 10}, tw{1, 2, 3, 4}, tb{0.5};
  std::vector<double> ty(8, NAN);
  conv2d_forward<double>(t, tx.data(), tw.data(), tb.data(), Act::linear, ty.data(), nullptr);
  EXPECT_EQ(ty, (std::vector<double>{1.5, 2.5, 10.5, 20.5, 3.5, 4.5, 30.5, 40.5}));
  std::vector<float> tyf(8, NAN);
  const auto txf = cast<float>(tx), twf = cast<float>(tw), tbf = cast<float>(tb);
  conv2d_forward<float>(t, txf.data(), twf.data(), tbf.data(), Act::linear, tyf.data(), nullptr);
  EXPECT_EQ(tyf, (std::vector<float>{1.5, 2.5, 10.5, 20.5, 3.5, 4.5, 30.5, 40.5}));
}

TEST(Conv2d, GradientsOnOddShapes) {
  uint64_t seed = 100;
  for (const ConvGeometry& g : CONV_CASES) check_gradients(g, Act::linear, true, true, seed += 10);
  check_gradients(CONV_CASES[1], Act::linear, true, false, 7);
}

TEST(ConvTranspose2d, GradientsOnOddShapes) {
  uint64_t seed = 200;
  for (const ConvGeometry& g : TCONV_CASES) check_gradients(g, Act::linear, true, true, seed += 10);
  check_gradients(TCONV_CASES[1], Act::linear, true, false, 8);
}

// Every activation of ae, on one odd shape of each kind: gradients with z kept and from y (where
// act′ is a function of y), and float against double.
TEST(Conv2d, EveryActivation) {
  for (const ConvGeometry& g : {CONV_CASES[1], TCONV_CASES[0]})
    for (Act act : ALL_ACTS) {
      check_gradients(g, act, true, true, 300 + static_cast<int>(act));
      if (!act_derivative_needs_z(act)) check_gradients(g, act, false, true, 400 + static_cast<int>(act));
      check_float_matches_double(g, act, 500 + static_cast<int>(act), false);
    }
}

TEST(Conv2d, FloatMatchesDouble) {
  uint64_t seed = 600;
  for (const ConvGeometry& g : CONV_CASES) check_float_matches_double(g, Act::tanh, seed += 10, false);
  for (const ConvGeometry& g : CLASSIC_CASES)
    if (!g.transposed) check_float_matches_double(g, Act::relu, seed += 10, false);
}

TEST(ConvTranspose2d, FloatMatchesDouble) {
  uint64_t seed = 700;
  for (const ConvGeometry& g : TCONV_CASES) check_float_matches_double(g, Act::tanh, seed += 10, false);
  for (const ConvGeometry& g : CLASSIC_CASES)
    if (g.transposed) check_float_matches_double(g, Act::sigmoid, seed += 10, false);
}

// Small-integer inputs: every product and partial sum is an integer far below 2^24, so oneDNN's
// float result must equal the double loops' bit for bit whatever its blocking and order.
TEST(Conv2d, ExactOnSmallIntegers) {
  uint64_t seed = 800;
  for (const auto* cases : {CONV_CASES, TCONV_CASES, CLASSIC_CASES})
    for (size_t i = 0; i < 6; ++i) check_float_matches_double(cases[i], Act::linear, seed += 10, true);
}

// dW and db accumulate each on its own flag: the one overwritten starts as NaN, the one added to
// as non-zero values, on both element types (float: oneDNN's weight gradient through the reorder's
// sum post-op).
template <typename T>
void check_accumulate(const ConvGeometry& g) {
  SCOPED_TRACE(name(g));
  Layer L(g, 900);
  const auto x = cast<T>(L.x), w = cast<T>(L.w), c = cast<T>(L.c);
  std::vector<T> y(g.y_size(), NAN), z(g.y_size(), NAN), dz(g.y_size(), NAN);
  conv2d_forward<T>(g, x.data(), w.data(), nullptr, Act::elu, y.data(), z.data());
  std::vector<T> dw(g.w_size(), NAN), db(g.out_c, NAN), dx(g.x_size(), NAN);
  conv2d_backward<T>(g, c.data(), nullptr, z.data(), Act::elu, x.data(), w.data(), dz.data(), dw.data(), db.data(),
                     dx.data(), false, false);
  const auto dw0 = cast<T>(convtest::uniform(g.w_size(), 1)), db0 = cast<T>(convtest::uniform(g.out_c, 2));
  for (const bool acc_dw : {true, false}) {
    const bool acc_db = !acc_dw;
    SCOPED_TRACE(std::string("accumulate_dw=") + (acc_dw ? "1" : "0"));
    std::vector<T> dw2 = acc_dw ? dw0 : std::vector<T>(g.w_size(), NAN);
    std::vector<T> db2 = acc_db ? db0 : std::vector<T>(g.out_c, NAN), dx2(g.x_size(), NAN);
    conv2d_backward<T>(g, c.data(), nullptr, z.data(), Act::elu, x.data(), w.data(), dz.data(), dw2.data(),
                       db2.data(), dx2.data(), acc_dw, acc_db);
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    for (int64_t i = 0; i < g.w_size(); ++i)
      ASSERT_NEAR(dw2[i], (acc_dw ? dw0[i] : T(0)) + dw[i], tol * (1 + std::fabs(dw[i]))) << "dW[" << i << "]";
    for (int64_t j = 0; j < g.out_c; ++j)
      ASSERT_NEAR(db2[j], (acc_db ? db0[j] : T(0)) + db[j], tol * (1 + std::fabs(db[j]))) << "db[" << j << "]";
    EXPECT_EQ(0, std::memcmp(dx2.data(), dx.data(), dx.size() * sizeof(T)));
    // An empty batch: the overwritten gradient becomes zero, the accumulated one keeps its values.
    ConvGeometry e = g;
    e.batch = 0;
    std::vector<T> dw3 = acc_dw ? dw0 : std::vector<T>(g.w_size(), NAN);
    std::vector<T> db3 = acc_db ? db0 : std::vector<T>(g.out_c, NAN);
    conv2d_backward<T>(e, nullptr, nullptr, z.data(), Act::elu, x.data(), w.data(), nullptr, dw3.data(), db3.data(),
                       nullptr, acc_dw, acc_db);
    for (int64_t i = 0; i < g.w_size(); ++i) ASSERT_EQ(dw3[i], acc_dw ? dw0[i] : T(0));
    for (int64_t j = 0; j < g.out_c; ++j) ASSERT_EQ(db3[j], acc_db ? db0[j] : T(0));
  }
}

TEST(Conv2d, DwAndDbAccumulateIndependently) {
  for (const ConvGeometry& g : {CONV_CASES[1], TCONV_CASES[1], CLASSIC_CASES[1], CLASSIC_CASES[4]}) {
    check_accumulate<double>(g);
    check_accumulate<float>(g);
  }
}

// dz may alias dy (dy then holds dz); everything else comes out as with separate buffers.
TEST(Conv2d, DzMayAliasDy) {
  for (const ConvGeometry& g : {CONV_CASES[2], TCONV_CASES[2]}) {
    Layer L(g, 1000);
    const auto x = cast<float>(L.x), w = cast<float>(L.w), b = cast<float>(L.b), c = cast<float>(L.c);
    std::vector<float> y(g.y_size(), NAN);
    conv2d_forward<float>(g, x.data(), w.data(), b.data(), Act::sigmoid, y.data(), nullptr);
    std::vector<float> dz(g.y_size(), NAN), dw(g.w_size(), NAN), db(g.out_c, NAN), dx(g.x_size(), NAN);
    conv2d_backward<float>(g, c.data(), y.data(), nullptr, Act::sigmoid, x.data(), w.data(), dz.data(), dw.data(),
                           db.data(), dx.data(), false, false);
    std::vector<float> dy = c, dw2(g.w_size(), NAN), db2(g.out_c, NAN), dx2(g.x_size(), NAN);
    conv2d_backward<float>(g, dy.data(), y.data(), nullptr, Act::sigmoid, x.data(), w.data(), dy.data(), dw2.data(),
                           db2.data(), dx2.data(), false, false);
    EXPECT_EQ(dy, dz);
    EXPECT_EQ(dw2, dw);
    EXPECT_EQ(db2, db);
    EXPECT_EQ(dx2, dx);
  }
}

// The gradients one at a time, as the graph runs them: the data gradient alone (dw = db = null, x
// null too, since only dw reads it; linear without a dz scratch, and tanh with one) and the
// parameter gradients alone (dx = null, w null), and db alone: each bitwise what the full call
// gives, on both element types (float: oneDNN's primitives, or the loops where it cannot).
template <typename T>
void check_gradients_alone(const ConvGeometry& g, uint64_t seed) {
  Layer L(g, seed);
  const auto x = cast<T>(L.x), w = cast<T>(L.w), b = cast<T>(L.b), c = cast<T>(L.c);
  for (const Act act : {Act::linear, Act::tanh}) {
    SCOPED_TRACE(name(g) + " act=" + act_name(act) + (std::is_same_v<T, float> ? " float" : " double"));
    std::vector<T> y(g.y_size(), NAN), z(g.y_size(), NAN);
    conv2d_forward<T>(g, x.data(), w.data(), b.data(), act, y.data(), z.data());
    const int64_t ys = g.y_size(), ws = g.w_size(), xs = g.x_size();
    std::vector<T> dz(ys, NAN), dw(ws, NAN), db(g.out_c, NAN), dx(xs, NAN);
    conv2d_backward<T>(g, c.data(), y.data(), z.data(), act, x.data(), w.data(), dz.data(), dw.data(), db.data(),
                       dx.data(), false, false);
    auto same = [](const char* what, const std::vector<T>& got, const std::vector<T>& want) {
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(T))) << what << " differs";
      EXPECT_TRUE(std::none_of(got.begin(), got.end(), [](T v) { return std::isnan(v); })) << what;
    };
    // Data gradient alone: no dz scratch for linear.
    std::vector<T> dz1(ys, NAN), dx1(xs, NAN);
    conv2d_backward<T>(g, c.data(), y.data(), z.data(), act, nullptr, w.data(),
                       act == Act::linear ? nullptr : dz1.data(), nullptr, nullptr, dx1.data(), false, false);
    same("dx alone", dx1, dx);
    // Weight and bias gradients alone, then the bias alone.
    std::vector<T> dz2(ys, NAN), dw2(ws, NAN), db2(g.out_c, NAN), db3(g.out_c, NAN);
    conv2d_backward<T>(g, c.data(), y.data(), z.data(), act, x.data(), nullptr, dz2.data(), dw2.data(), db2.data(),
                       nullptr, false, false);
    same("dW without dx", dw2, dw);
    same("db without dx", db2, db);
    conv2d_backward<T>(g, c.data(), y.data(), z.data(), act, nullptr, nullptr, dz2.data(), nullptr, db3.data(), nullptr,
                       false, false);
    same("db alone", db3, db);
  }
}

TEST(Conv2d, EachGradientAloneEqualsTheFullCall) {
  uint64_t seed = 1200;
  for (const auto* cases : {CONV_CASES, TCONV_CASES})
    for (size_t i = 0; i < 6; ++i) {
      check_gradients_alone<double>(cases[i], seed += 10);
      check_gradients_alone<float>(cases[i], seed += 10);
    }
  for (const ConvGeometry& g : CLASSIC_CASES) check_gradients_alone<float>(g, seed += 10);
}

TEST(Conv2d, MissingOperandsOfWantedGradientsAreRefused) {
  const ConvGeometry g = CONV_CASES[1];
  Layer L(g, 2);
  std::vector<double> dz(g.y_size()), dw(g.w_size()), dx(g.x_size());
  const double* c = L.c.data();
  EXPECT_THROW(conv2d_backward<double>(g, c, nullptr, nullptr, Act::linear, nullptr, L.w.data(), dz.data(), dw.data(),
                                       nullptr, nullptr, false, false),
               Error);  // dw reads x
  EXPECT_THROW(conv2d_backward<double>(g, c, nullptr, nullptr, Act::linear, L.x.data(), nullptr, dz.data(), nullptr,
                                       nullptr, dx.data(), false, false),
               Error);  // dx reads w
  const std::vector<double> y = L.forward(Act::relu);
  EXPECT_THROW(conv2d_backward<double>(g, c, y.data(), nullptr, Act::relu, L.x.data(), L.w.data(), nullptr, nullptr,
                                       nullptr, dx.data(), false, false),
               Error);  // relu needs the dz scratch
}

TEST(Conv2d, GeluWithoutZIsRefused) {
  const ConvGeometry g = CONV_CASES[0];
  Layer L(g, 1);
  std::vector<double> y = L.forward(Act::gelu), dz(g.y_size()), dw(g.w_size());
  try {
    conv2d_backward<double>(g, L.c.data(), y.data(), nullptr, Act::gelu, L.x.data(), L.w.data(), dz.data(), dw.data(),
                            nullptr, nullptr, false, false);
    FAIL() << "expected ae::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gelu"), std::string::npos) << e.what();
  }
}

// The float path gives the same bits twice, and when two threads run the cached primitives at the
// same time (each on its own scratchpad).
TEST(Conv2d, FloatDeterministicAndThreadSafe) {
  struct Run {
    std::vector<float> y, dw, db, dx;
  };
  auto run = [](const ConvGeometry& g, const Layer& L) {
    const auto x = cast<float>(L.x), w = cast<float>(L.w), b = cast<float>(L.b), c = cast<float>(L.c);
    Run r{std::vector<float>(g.y_size(), NAN), std::vector<float>(g.w_size(), NAN),
          std::vector<float>(g.out_c, NAN), std::vector<float>(g.x_size(), NAN)};
    std::vector<float> z(g.y_size(), NAN), dz(g.y_size(), NAN);
    conv2d_forward<float>(g, x.data(), w.data(), b.data(), Act::tanh, r.y.data(), z.data());
    conv2d_backward<float>(g, c.data(), r.y.data(), z.data(), Act::tanh, x.data(), w.data(), dz.data(), r.dw.data(),
                           r.db.data(), r.dx.data(), false, false);
    return r;
  };
  auto same = [](const Run& a, const Run& b) {
    auto eq = [](const std::vector<float>& u, const std::vector<float>& v) {
      return u.size() == v.size() && std::memcmp(u.data(), v.data(), u.size() * sizeof(float)) == 0;
    };
    return eq(a.y, b.y) && eq(a.dw, b.dw) && eq(a.db, b.db) && eq(a.dx, b.dx);
  };
  for (const ConvGeometry& g : {CLASSIC_CASES[1], CLASSIC_CASES[4]}) {
    SCOPED_TRACE(name(g));
    const Layer L(g, 1100);
    const Run first = run(g, L);
    EXPECT_TRUE(same(first, run(g, L)));
    Run a, b;
    std::thread ta([&] { for (int i = 0; i < 5; ++i) a = run(g, L); });
    std::thread tb([&] { for (int i = 0; i < 5; ++i) b = run(g, L); });
    ta.join();
    tb.join();
    // Each std::thread runs oneDNN on its own OpenMP setting; compare the two with each other.
    EXPECT_TRUE(same(a, b));
  }
}

TEST(Conv2d, EmptyBatchWritesNothing) {
  ConvGeometry g = CONV_CASES[1];
  g.batch = 0;
  std::vector<float> y(4, NAN);
  conv2d_forward<float>(g, nullptr, nullptr, nullptr, Act::relu, y.data(), nullptr);
  EXPECT_TRUE(std::isnan(y[0]));
}

}  // namespace
}  // namespace ae::cpu
