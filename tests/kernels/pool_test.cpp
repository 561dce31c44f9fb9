// The cpu pooling and upsampling layers (kernels/cpu/pool.h): hand-computed outputs of PyTorch's
// rules (first maximum on ties, NaN wins, padding never wins, count_include_pad divisors), the max
// pool backward from x against the scatter through the forward's argmax, fp64 central-difference
// gradients on odd shapes, float against double, validate() messages, and the same bits for any
// thread count. Outputs start as NaN so an unwritten element fails.
#include "kernels/cpu/pool.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/kernels/conv_check.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using convtest::cast;
using convtest::close_to_reference;

std::string name(const PoolGeometry& g) {
  std::ostringstream s;
  s << "pool(N=" << g.batch << ",C=" << g.channels << ",H=" << g.in_h << ",W=" << g.in_w << ",k=" << g.k_h << "x"
    << g.k_w << ",s=" << g.stride_h << "x" << g.stride_w << ",p=" << g.pad_h << "x" << g.pad_w << ")";
  return s.str();
}

// Odd shapes: odd H/W, strides 1–3, padding 0–2 (at most half the kernel), kernels 2, 3, 5 and a
// non-square one, 1 and 3 channels, batch 1 and 3.
const PoolGeometry POOL_CASES[] = {
    {1, 1, 7, 9, 3, 3, 2, 2, 1, 1},  {3, 3, 13, 11, 2, 2, 2, 2, 0, 0}, {1, 3, 7, 9, 3, 3, 1, 1, 1, 1},
    {3, 1, 13, 11, 5, 5, 3, 3, 2, 2}, {3, 3, 9, 7, 2, 3, 1, 2, 1, 1},
};
const UpsampleGeometry UPSAMPLE_CASES[] = {{1, 1, 7, 9, 2, 2}, {3, 3, 3, 5, 3, 2}, {3, 1, 5, 3, 1, 3}};

// Distinct values (a shuffled ramp with steps of 0.01, shifted below zero in part): no two inputs
// of a window tie, so a central difference (h = 1e-6) never moves the maximum.
std::vector<double> distinct(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (auto& e : v) e = 0.01 * e - 0.003 * static_cast<double>(n);
  return v;
}

enum class Kind { max, avg };

std::vector<double> pool_forward(Kind kind, const PoolGeometry& g, const std::vector<double>& x,
                                 std::vector<int32_t>* idx = nullptr) {
  std::vector<double> y(g.y_size(), NAN);
  std::vector<int32_t> own(g.y_size(), -1);
  if (kind == Kind::max) max_pool2d_forward<double>(g, x.data(), y.data(), (idx ? idx : &own)->data());
  else avg_pool2d_forward<double>(g, x.data(), y.data());
  return y;
}

TEST(Pool, MaxPoolTiesNanAndPaddingFollowPyTorch) {
  // 2×2 windows over [[1, 3], [3, 2]]: the first 3 in row-major order wins the tie.
  const PoolGeometry g{1, 1, 2, 2, 2, 2, 2, 2, 0, 0};
  std::vector<double> y(1, NAN), dx(4, NAN);
  std::vector<int32_t> idx(1, -1);
  max_pool2d_forward<double>(g, std::vector<double>{1, 3, 3, 2}.data(), y.data(), idx.data());
  EXPECT_EQ(y[0], 3);
  EXPECT_EQ(idx[0], 1);
  max_pool2d_backward<double>(g, std::vector<double>{5}.data(), std::vector<double>{1, 3, 3, 2}.data(), dx.data());
  EXPECT_EQ(dx, (std::vector<double>{0, 5, 0, 0}));
  // A NaN wins its window and propagates (at its own index).
  max_pool2d_forward<double>(g, std::vector<double>{1, 3, NAN, 2}.data(), y.data(), idx.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(idx[0], 2);
  // Padding never wins: all-negative 3×3, 3×3 windows with padding 1, stride 2 → 2×2 outputs
  // whose maxima are the in-bounds corners' best, with their in-plane indices.
  const PoolGeometry p{1, 1, 3, 3, 3, 3, 2, 2, 1, 1};
  const std::vector<double> x{-9, -8, -7, -6, -5, -4, -3, -2, -1};
  std::vector<double> py(4, NAN);
  std::vector<int32_t> pidx(4, -1);
  max_pool2d_forward<double>(p, x.data(), py.data(), pidx.data());
  EXPECT_EQ(py, (std::vector<double>{-5, -4, -2, -1}));
  EXPECT_EQ(pidx, (std::vector<int32_t>{4, 5, 7, 8}));
  // Overlapping windows route every gradient to its argmax and add where they share one.
  std::vector<double> pdx(9, NAN);
  max_pool2d_backward<double>(p, std::vector<double>{1, 2, 3, 4}.data(), x.data(), pdx.data());
  EXPECT_EQ(pdx, (std::vector<double>{0, 0, 0, 0, 1, 2, 0, 3, 4}));
}

// The scatter the backward used to be: dx = 0, then dx[argmax[i]] += dy[i] in output order per plane,
// through the argmax the forward wrote.
template <typename T>
std::vector<T> scatter_through_argmax(const PoolGeometry& g, const std::vector<T>& dy,
                                      const std::vector<int32_t>& idx) {
  const int64_t out_plane = g.out_h() * g.out_w(), in_plane = g.in_h * g.in_w;
  std::vector<T> dx(g.x_size(), T(0));
  for (int64_t i = 0; i < g.y_size(); ++i) {
    EXPECT_TRUE(idx[i] >= 0 && idx[i] < in_plane) << "argmax[" << i << "] = " << idx[i];
    if (idx[i] >= 0 && idx[i] < in_plane) dx[(i / out_plane) * in_plane + idx[i]] += dy[i];
  }
  return dx;
}

// The backward from x is bitwise the scatter through the forward's argmax, and the forward without
// an argmax writes the same y: odd shapes with padding, inputs full of ties ({-1, 0, 1}, and every
// element equal and negative, so padding beside a window of ties must still lose) and NaNs.
template <typename T>
void check_backward_equals_scatter(const PoolGeometry& g, uint64_t seed) {
  std::vector<std::vector<T>> inputs;
  inputs.push_back(cast<T>(convtest::small_ints(g.x_size(), seed, 1)));
  inputs.push_back(std::vector<T>(g.x_size(), T(-2)));
  inputs.push_back(inputs[0]);
  for (size_t i = 3; i < inputs[2].size(); i += 11) inputs[2][i] = NAN;
  const std::vector<T> dy = cast<T>(convtest::uniform(g.y_size(), seed + 1));
  for (size_t v = 0; v < inputs.size(); ++v) {
    SCOPED_TRACE(name(g) + " input " + std::to_string(v) + (sizeof(T) == 4 ? " float" : " double"));
    const std::vector<T>& x = inputs[v];
    std::vector<T> y(g.y_size(), NAN), y2(g.y_size(), NAN), dx(g.x_size(), NAN);
    std::vector<int32_t> idx(g.y_size(), -1);
    max_pool2d_forward<T>(g, x.data(), y.data(), idx.data());
    max_pool2d_forward<T>(g, x.data(), y2.data(), nullptr);
    EXPECT_EQ(0, std::memcmp(y.data(), y2.data(), y.size() * sizeof(T))) << "y differs without argmax";
    max_pool2d_backward<T>(g, dy.data(), x.data(), dx.data());
    const std::vector<T> want = scatter_through_argmax(g, dy, idx);
    EXPECT_EQ(0, std::memcmp(dx.data(), want.data(), dx.size() * sizeof(T))) << "dx differs from the scatter";
    EXPECT_TRUE(std::any_of(want.begin(), want.end(), [](T e) { return e != T(0); }));
  }
}

TEST(Pool, MaxBackwardFromXEqualsScatterThroughArgmax) {
  uint64_t seed = 30;
  for (const PoolGeometry& g : POOL_CASES) {
    check_backward_equals_scatter<double>(g, seed += 2);
    check_backward_equals_scatter<float>(g, seed += 2);
  }
  // Overlapping windows (stride below the kernel) with padding on odd planes, rectangular ones.
  for (const PoolGeometry& g : {PoolGeometry{3, 2, 5, 7, 3, 3, 1, 1, 1, 1}, PoolGeometry{1, 3, 11, 5, 4, 2, 3, 1, 2, 1},
                                PoolGeometry{2, 1, 3, 3, 3, 3, 2, 2, 1, 1}})
    check_backward_equals_scatter<float>(g, seed += 2);
}

TEST(Pool, AvgPoolCountsPaddingAsPyTorchDefault) {
  // Ones 3×3, 3×3 windows, stride 1, padding 1: a corner sees 4 ones over 9, an edge 6, the centre 9.
  const PoolGeometry g{1, 1, 3, 3, 3, 3, 1, 1, 1, 1};
  std::vector<double> x(9, 1.0), y(9, NAN), dx(9, NAN);
  avg_pool2d_forward<double>(g, x.data(), y.data());
  EXPECT_DOUBLE_EQ(y[0], 4.0 / 9);
  EXPECT_DOUBLE_EQ(y[1], 6.0 / 9);
  EXPECT_DOUBLE_EQ(y[4], 1.0);
  // Each input is in (corner) 4, (edge) 6 or (centre) 9 windows, each passing 1/9 of a unit gradient.
  avg_pool2d_backward<double>(g, std::vector<double>(9, 1.0).data(), dx.data());
  EXPECT_DOUBLE_EQ(dx[0], 4.0 / 9);
  EXPECT_DOUBLE_EQ(dx[1], 6.0 / 9);
  EXPECT_DOUBLE_EQ(dx[4], 1.0);
}

TEST(Pool, UpsampleHandComputed) {
  const UpsampleGeometry g{1, 1, 2, 2, 2, 3};
  std::vector<double> y(24, NAN), dx(4, NAN);
  upsample_nearest2d_forward<double>(g, std::vector<double>{1, 2, 3, 4}.data(), y.data());
  EXPECT_EQ(y, (std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  std::vector<double> dy(24);
  std::iota(dy.begin(), dy.end(), 0.0);
  upsample_nearest2d_backward<double>(g, dy.data(), dx.data());
  EXPECT_EQ(dx, (std::vector<double>{0 + 1 + 2 + 6 + 7 + 8, 3 + 4 + 5 + 9 + 10 + 11, 12 + 13 + 14 + 18 + 19 + 20,
                                     15 + 16 + 17 + 21 + 22 + 23}));
}

TEST(Pool, MaxAndAvgGradientsOnOddShapes) {
  uint64_t seed = 10;
  for (const PoolGeometry& g : POOL_CASES)
    for (Kind kind : {Kind::max, Kind::avg}) {
      SCOPED_TRACE(name(g) + (kind == Kind::max ? " max" : " avg"));
      std::vector<double> x = distinct(g.x_size(), ++seed);
      const std::vector<double> c = convtest::uniform(g.y_size(), ++seed);
      std::vector<int32_t> idx(g.y_size(), -1);
      pool_forward(kind, g, x, &idx);
      std::vector<double> dx(g.x_size(), NAN);
      if (kind == Kind::max)
        max_pool2d_backward<double>(g, c.data(), x.data(), dx.data());
      else avg_pool2d_backward<double>(g, c.data(), dx.data());
      auto loss = [&] { return gradcheck::dot(c, pool_forward(kind, g, x)); };
      EXPECT_TRUE(gradcheck::all_near("dx", dx, gradcheck::numeric_grad(x, loss), 1e-7));
    }
}

TEST(Pool, UpsampleGradientsOnOddShapes) {
  uint64_t seed = 50;
  for (const UpsampleGeometry& g : UPSAMPLE_CASES) {
    std::vector<double> x = convtest::uniform(g.x_size(), ++seed);
    const std::vector<double> c = convtest::uniform(g.y_size(), ++seed);
    std::vector<double> dx(g.x_size(), NAN);
    upsample_nearest2d_backward<double>(g, c.data(), dx.data());
    auto loss = [&] {
      std::vector<double> y(g.y_size(), NAN);
      upsample_nearest2d_forward<double>(g, x.data(), y.data());
      return gradcheck::dot(c, y);
    };
    EXPECT_TRUE(gradcheck::all_near("dx", dx, gradcheck::numeric_grad(x, loss), 1e-7));
  }
}

// float against double: max pool and upsampling move values (bit-exact, the argmax equal), average
// pooling sums k_h·k_w of them (conv_check.h's tolerance).
TEST(Pool, FloatMatchesDouble) {
  uint64_t seed = 70;
  for (const PoolGeometry& g : POOL_CASES) {
    SCOPED_TRACE(name(g));
    const std::vector<double> x = convtest::uniform(g.x_size(), ++seed), dy = convtest::uniform(g.y_size(), ++seed);
    const auto xf = cast<float>(x), dyf = cast<float>(dy);
    const std::vector<double> xr = cast<double>(xf), dyr = cast<double>(dyf);  // the float inputs, exactly
    std::vector<int32_t> idx(g.y_size(), -1), idxf(g.y_size(), -2);
    std::vector<double> y(g.y_size(), NAN), dx(g.x_size(), NAN);
    std::vector<float> yf(g.y_size(), NAN), dxf(g.x_size(), NAN);
    max_pool2d_forward<double>(g, xr.data(), y.data(), idx.data());
    max_pool2d_forward<float>(g, xf.data(), yf.data(), idxf.data());
    EXPECT_EQ(idx, idxf);
    EXPECT_TRUE(close_to_reference("max y", yf, y, 1, 1, true));
    max_pool2d_backward<double>(g, dyr.data(), xr.data(), dx.data());
    max_pool2d_backward<float>(g, dyf.data(), xf.data(), dxf.data());
    // Overlapping windows can add two gradients into one element: one float rounding.
    EXPECT_TRUE(close_to_reference("max dx", dxf, dx, 2, 1));
    avg_pool2d_forward<double>(g, xr.data(), y.data());
    avg_pool2d_forward<float>(g, xf.data(), yf.data());
    EXPECT_TRUE(close_to_reference("avg y", yf, y, g.k_h * g.k_w, 1));
    avg_pool2d_backward<double>(g, dyr.data(), dx.data());
    avg_pool2d_backward<float>(g, dyf.data(), dxf.data());
    EXPECT_TRUE(close_to_reference("avg dx", dxf, dx, g.k_h * g.k_w, 1));
  }
  for (const UpsampleGeometry& g : UPSAMPLE_CASES) {
    const auto xf = cast<float>(convtest::uniform(g.x_size(), ++seed));
    const auto dyf = cast<float>(convtest::small_ints(g.y_size(), ++seed));  // sums exact in float
    std::vector<double> y(g.y_size(), NAN), dx(g.x_size(), NAN);
    std::vector<float> yf(g.y_size(), NAN), dxf(g.x_size(), NAN);
    const auto xr = cast<double>(xf), dyr = cast<double>(dyf);
    upsample_nearest2d_forward<double>(g, xr.data(), y.data());
    upsample_nearest2d_forward<float>(g, xf.data(), yf.data());
    EXPECT_TRUE(close_to_reference("upsample y", yf, y, 1, 1, true));
    upsample_nearest2d_backward<double>(g, dyr.data(), dx.data());
    upsample_nearest2d_backward<float>(g, dyf.data(), dxf.data());
    EXPECT_TRUE(close_to_reference("upsample dx", dxf, dx, 1, 1, true));
  }
}

// Big enough for a team of threads: 1 and 2 threads give the same bits.
TEST(Pool, SameBitsForAnyThreadCount) {
  const PoolGeometry g{8, 16, 57, 43, 3, 3, 2, 2, 1, 1};
  const UpsampleGeometry u{8, 16, 29, 22, 2, 2};
  const auto x = cast<float>(convtest::uniform(g.x_size(), 1)), dy = cast<float>(convtest::uniform(g.y_size(), 2));
  const auto ux = cast<float>(convtest::uniform(u.x_size(), 3)), udy = cast<float>(convtest::uniform(u.y_size(), 4));
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> out;
    std::vector<float> y(g.y_size(), NAN), dx(g.x_size(), NAN), uy(u.y_size(), NAN), udx(u.x_size(), NAN);
    std::vector<int32_t> idx(g.y_size(), -1);
    for (Kind kind : {Kind::max, Kind::avg}) {
      if (kind == Kind::max) {
        max_pool2d_forward<float>(g, x.data(), y.data(), idx.data());
        max_pool2d_backward<float>(g, dy.data(), x.data(), dx.data());
      } else {
        avg_pool2d_forward<float>(g, x.data(), y.data());
        avg_pool2d_backward<float>(g, dy.data(), dx.data());
      }
      out.insert(out.end(), y.begin(), y.end());
      out.insert(out.end(), dx.begin(), dx.end());
    }
    upsample_nearest2d_forward<float>(u, ux.data(), uy.data());
    upsample_nearest2d_backward<float>(u, udy.data(), udx.data());
    out.insert(out.end(), uy.begin(), uy.end());
    out.insert(out.end(), udx.begin(), udx.end());
    omp_set_num_threads(saved);
    return out;
  };
  const std::vector<float> one = run(1), two = run(2);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
  EXPECT_TRUE(std::none_of(one.begin(), one.end(), [](float v) { return std::isnan(v); }));
}

TEST(Pool, ValidateNamesTheProblem) {
  struct Bad {
    PoolGeometry g;
    const char* says;
  };
  const Bad bad[] = {
      {{1, 0, 7, 7, 3, 3, 2, 2, 0, 0}, "must have channels and size ≥ 1"},
      {{1, 1, 7, 7, 3, 3, 0, 2, 0, 0}, "stride 0×2 must be ≥ 1"},
      {{1, 1, 7, 7, 3, 3, 2, 2, 2, 0}, "padding 2×0 must be ≥ 0 and at most half the kernel 3×3"},
      {{1, 1, 3, 4, 5, 2, 1, 1, 0, 0}, "kernel 5×2 is larger than the padded input 3×4"},
      {{-1, 1, 3, 4, 2, 2, 1, 1, 0, 0}, "negative batch"},
  };
  for (const Bad& b : bad) {
    try {
      b.g.validate("max_pool2d");
      ADD_FAILURE() << name(b.g) << ": expected ae::Error containing: " << b.says;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("max_pool2d"), std::string::npos) << e.what();
    }
  }
  std::vector<float> v(64, 0.f);
  EXPECT_THROW(avg_pool2d_forward<float>(bad[2].g, v.data(), v.data()), Error);
  EXPECT_THROW(upsample_nearest2d_forward<float>(UpsampleGeometry{1, 1, 2, 2, 0, 2}, v.data(), v.data()), Error);
  // The backward needs the forward input; the forward's argmax is optional.
  const PoolGeometry g{1, 1, 2, 2, 2, 2, 2, 2, 0, 0};
  EXPECT_THROW(max_pool2d_backward<float>(g, v.data(), nullptr, v.data()), Error);
  EXPECT_NO_THROW(max_pool2d_forward<float>(g, v.data(), v.data() + 8, nullptr));
}

}  // namespace
}  // namespace ae::cpu
