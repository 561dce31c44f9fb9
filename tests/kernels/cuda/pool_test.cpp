// ae::cuda max/avg pooling and nearest upsampling on cuda-sim against ae::cpu's, forward and
// backward: odd planes (7×9, 13×11), windows 1–5 with strides 1–3 and padding up to half the window,
// 1 and 3 channels, batch 1 and 3; ties and NaN in max windows; the max backward (from x) also
// against the scatter through the forward's argmax, and the forward without an argmax; bit equality
// throughout (the kernels do the reference's arithmetic in its order: no tolerance to allow).
#include "kernels/cuda/pool.cuh"

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>

#include "kernels/cpu/pool.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

enum class PoolKind { max, avg, upsample };
const char* kind_name(PoolKind k) { return k == PoolKind::max ? "max_pool2d" : k == PoolKind::avg ? "avg_pool2d" : "upsample_nearest2d"; }

struct PoolCase {
  PoolKind kind;
  cpu::PoolGeometry g;  // upsample: k_h, k_w are the factors
  bool ties = false;    // max: inputs from {-1, 0, 1} (many equal maxima), with a few NaN
  uint64_t seed = 1;

  cpu::UpsampleGeometry up() const { return {g.batch, g.channels, g.in_h, g.in_w, g.k_h, g.k_w}; }
  int64_t x_size() const { return g.x_size(); }
  int64_t y_size() const { return kind == PoolKind::upsample ? up().y_size() : g.y_size(); }
  std::string params() const {
    std::ostringstream os;
    os << kind_name(kind) << "(N=" << g.batch << ",C=" << g.channels << ",H=" << g.in_h << ",W=" << g.in_w;
    if (kind == PoolKind::upsample)
      os << ",f=" << g.k_h << "x" << g.k_w;
    else
      os << ",k=" << g.k_h << "x" << g.k_w << ",s=" << g.stride_h << "x" << g.stride_w << ",p=" << g.pad_h << "x"
         << g.pad_w;
    os << (ties ? ",ties_nan" : "") << ",seed=" << seed << ")";
    return os.str();
  }
};

std::vector<float> pool_input(const PoolCase& c) {
  if (!c.ties) return uniform(c.x_size(), -1, 1, c.seed, 1);
  std::vector<float> x = small_ints(c.x_size(), -1, 1, c.seed, 1);
  for (size_t i = 7; i < x.size(); i += 41) x[i] = NAN;
  return x;
}

struct PoolOut {
  std::vector<float> y, dx;
  std::vector<int32_t> argmax;
};

PoolOut run_cpu(const PoolCase& c, const std::vector<float>& x, const std::vector<float>& dy) {
  PoolOut o{std::vector<float>(c.y_size()), std::vector<float>(c.x_size()), std::vector<int32_t>(c.y_size())};
  switch (c.kind) {
    case PoolKind::max:
      cpu::max_pool2d_forward<float>(c.g, x.data(), o.y.data(), o.argmax.data());
      cpu::max_pool2d_backward<float>(c.g, dy.data(), x.data(), o.dx.data());
      break;
    case PoolKind::avg:
      cpu::avg_pool2d_forward<float>(c.g, x.data(), o.y.data());
      cpu::avg_pool2d_backward<float>(c.g, dy.data(), o.dx.data());
      break;
    case PoolKind::upsample:
      cpu::upsample_nearest2d_forward<float>(c.up(), x.data(), o.y.data());
      cpu::upsample_nearest2d_backward<float>(c.up(), dy.data(), o.dx.data());
      break;
  }
  return o;
}

// Max pool runs its forward twice, with and without the argmax (y2 must equal y), and its backward
// from x (the argmax found again, on the device).
PoolOut run_cuda(const PoolCase& c, const std::vector<float>& x_h, const std::vector<float>& dy_h) {
  DeviceBuffer<float> x(x_h), dy(dy_h), y(c.y_size()), y2(c.y_size()), dx(c.x_size());
  DeviceBuffer<int32_t> am(c.y_size());
  name_for_memcheck(x, "x"), name_for_memcheck(dy, "dy"), name_for_memcheck(y, "y"), name_for_memcheck(dx, "dx");
  name_for_memcheck(y2, "y without argmax"), name_for_memcheck(am, "argmax");
  switch (c.kind) {
    case PoolKind::max:
      ae::cuda::max_pool2d_forward<float>(c.g, x.get(), y.get(), am.get(), nullptr);
      ae::cuda::max_pool2d_forward<float>(c.g, x.get(), y2.get(), nullptr, nullptr);
      ae::cuda::max_pool2d_backward<float>(c.g, dy.get(), x.get(), dx.get(), nullptr);
      EXPECT_TRUE(bitwise_equal("y without argmax", y2.download(), y.download()));
      break;
    case PoolKind::avg:
      ae::cuda::avg_pool2d_forward<float>(c.g, x.get(), y.get(), nullptr);
      ae::cuda::avg_pool2d_backward<float>(c.g, dy.get(), dx.get(), nullptr);
      break;
    case PoolKind::upsample:
      ae::cuda::upsample_nearest2d_forward<float>(c.up(), x.get(), y.get(), nullptr);
      ae::cuda::upsample_nearest2d_backward<float>(c.up(), dy.get(), dx.get(), nullptr);
      break;
  }
  expect_guards(c.params(), x, dy, y, y2, dx, am);
  return {y.download(), dx.download(), c.kind == PoolKind::max ? am.download() : std::vector<int32_t>{}};
}

class Pool : public DeviceTestWithParam<PoolCase> {};

TEST_P(Pool, MatchesCpuReferenceBitwise) {
  const PoolCase& c = GetParam();
  SCOPED_TRACE(c.params());
  const std::vector<float> x = pool_input(c), dy = uniform(c.y_size(), -1, 1, c.seed, 2);
  const PoolOut ref = run_cpu(c, x, dy);
  const PoolOut got = run_cuda(c, x, dy);

  FailureDump dump(c.params());
  dump.add("x", x), dump.add("dy", dy), dump.add("y_ref", ref.y), dump.add("y", got.y);
  dump.add("dx_ref", ref.dx), dump.add("dx", got.dx);
  ASSERT_TRUE(nonzero("y_ref", ref.y));
  ASSERT_TRUE(nonzero("dx_ref", ref.dx));
  ASSERT_TRUE(finite("dx_ref", ref.dx));
  EXPECT_TRUE(compare("y", got.y, ref.y, exact_tolerance(), 1, 1));
  EXPECT_TRUE(compare("dx", got.dx, ref.dx, exact_tolerance(), 1, 1));
  if (c.kind != PoolKind::max) return;
  EXPECT_EQ(got.argmax, ref.argmax) << "argmax differs";
  // The backward from x is the scatter through the forward's argmax, dy[i] added in output order.
  const int64_t out_plane = c.g.out_h() * c.g.out_w(), in_plane = c.g.in_h * c.g.in_w;
  std::vector<float> scattered(c.x_size(), 0.0f);
  for (int64_t i = 0; i < c.y_size(); ++i) scattered[(i / out_plane) * in_plane + ref.argmax[i]] += dy[i];
  EXPECT_TRUE(bitwise_equal("dx against the scatter through argmax", got.dx, scattered));
}

cpu::PoolGeometry pg(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t s, int64_t p) {
  return {n, c, h, w, k, k, s, s, p, p};
}

std::vector<PoolCase> pool_cases() {
  std::vector<PoolCase> v;
  const int64_t planes[2][2] = {{7, 9}, {13, 11}};
  uint64_t i = 0;
  for (PoolKind kind : {PoolKind::max, PoolKind::avg})
    for (int64_t k : {1, 2, 3, 5})
      for (int64_t s : {1, 2, 3})
        for (int64_t p : {0, 1, 2}) {
          ++i;
          if (2 * p > k) continue;  // PyTorch: padding at most half the window
          const int64_t* hw = planes[i % 2];
          cpu::PoolGeometry g = pg((i / 2) % 2 ? 3 : 1, (i / 3) % 2 ? 3 : 1, hw[0], hw[1], k, s, p);
          if (i % 5 == 0 && k > 1) g.k_w = k - 1, g.pad_w = std::min(p, (k - 1) / 2);  // rectangular windows
          if (i % 7 == 0) g.stride_w = s % 3 + 1;
          v.push_back({kind, g, kind == PoolKind::max && i % 2 == 0, i});
        }
  for (int64_t f : {1, 2, 3}) {
    v.push_back({PoolKind::upsample, pg(3, 1, 7, 9, f, 1, 0), false, 100 + uint64_t(f)});
    v.push_back({PoolKind::upsample, pg(1, 3, 13, 11, f, 1, 0), false, 110 + uint64_t(f)});
  }
  PoolCase rect{PoolKind::upsample, pg(3, 3, 7, 9, 2, 1, 0), false, 120};
  rect.g.k_w = 3;  // f = 2×3
  v.push_back(rect);
  // The classic decoder's pooling and upsampling at 28×28.
  v.push_back({PoolKind::max, pg(3, 16, 28, 28, 2, 2, 0), false, 130});
  v.push_back({PoolKind::avg, pg(3, 16, 28, 28, 2, 2, 0), false, 131});
  v.push_back({PoolKind::upsample, pg(3, 16, 7, 7, 2, 1, 0), false, 132});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Pool, ::testing::ValuesIn(pool_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

class PoolEdge : public DeviceTest {};
TEST_F(PoolEdge, EmptyBatchWritesNothingAndBadWindowsAreErrors) {
  DeviceBuffer<float> x(4), y(4);
  DeviceBuffer<int32_t> am(4);
  ae::cuda::max_pool2d_forward<float>(pg(0, 1, 2, 2, 2, 2, 0), x.get(), y.get(), am.get(), nullptr);
  for (float e : y.download()) EXPECT_TRUE(std::isnan(e));
  EXPECT_THROW(ae::cuda::avg_pool2d_forward<float>(pg(1, 1, 2, 2, 3, 1, 0), x.get(), y.get(), nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::max_pool2d_forward<float>(pg(1, 1, 4, 4, 2, 1, 2), x.get(), y.get(), am.get(), nullptr),
               ae::Error);  // padding above half the window
  EXPECT_THROW(ae::cuda::upsample_nearest2d_forward<float>({1, 1, 2, 2, 0, 1}, x.get(), y.get(), nullptr), ae::Error);
}

}  // namespace
}  // namespace ae::cudatest
