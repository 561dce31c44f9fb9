// The sparsity penalty on cuda-sim against the cpu reference: ae::cuda::sparsity_forward (column
// sums and value) against ae::cpu::sparsity_forward and ae::cuda::sparsity_backward (overwrite and
// accumulate) against ae::cpu::sparsity_backward, for l1 (signed codes with exact zeros, −0 too) and
// kl (sigmoid-range codes), on shapes around the 64-row chunk, its 4-row groups and the 32-column
// block. The column partials are also checked bit for bit against a host re-implementation of the
// order sparsity.cuh documents, the order dense_fwd's fused epilogue must reproduce, and shown to
// tell that order from its near misses. The cpu sums in double, the kernels in float: forward within
// tolerance<float>() over the reduction length; the gradient is elementwise shared math.
#include "kernels/cuda/sparsity.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/sparsity.h"
#include "tests/kernels/cuda/harness.h"

namespace ae::cudatest {
namespace {

SparsityParams l1() {
  return {SparsityKind::l1, 0};
}
SparsityParams kl(float rho) {
  return {SparsityKind::kl, rho};
}

struct SparsityCase {
  SparsityParams p;
  int64_t M, N;
  uint64_t seed;

  std::string params(const char* op = "sparsity") const {
    std::ostringstream os;
    os << op << "(kind=" << sparsity_kind_name(p.kind);
    if (p.kind == SparsityKind::kl) os << ",rho=" << p.rho;
    os << ",M=" << M << ",N=" << N << ",seed=" << seed << ")";
    return os.str();
  }
  int64_t chunks() const { return (M + ae::cuda::SPARSITY_CHUNK_ROWS - 1) / ae::cuda::SPARSITY_CHUNK_ROWS; }
  double flops() const { return 2.0 * M * N; }                       // forward: a stat and an add per element
  double bytes() const { return 4.0 * (M * N + 2 * chunks() * N); }  // forward: h, partials written and read
};
void PrintTo(const SparsityCase& c, std::ostream* os) {
  *os << c.params();
}

// kl: a sigmoid code, inside (0, 1). l1: signed, with exact zeros of both signs (sign(±0) = 0 in
// the gradient; |−0| goes into the sums).
std::vector<float> code(const SparsityCase& c) {
  if (c.p.kind == SparsityKind::kl) return uniform(size_t(c.M * c.N), 0.01f, 0.99f, c.seed, 1);
  std::vector<float> h = uniform(size_t(c.M * c.N), -1, 1, c.seed, 1);
  for (size_t i = 0; i < h.size(); ++i) {
    if (i % 7 == 3) h[i] = 0.0f;
    if (i % 11 == 5) h[i] = -0.0f;
  }
  return h;
}

double max_stat(const SparsityCase& c, const std::vector<float>& h) {
  double m = 0;
  for (float e : h) m = std::max(m, std::fabs(double(sparsity_stat(c.p.kind, e))));
  return m;
}

// One term's size in the value: |∂value/∂h|·max|h|. l1: max|h|/M; kl: max_j |KL′(ρ̂_j)|·max|h|/M,
// since an error in a column sum reaches the value through KL′ of that unit's mean.
double value_term_scale(const SparsityCase& c, const std::vector<float>& h, const std::vector<float>& colsum_ref) {
  double slope = 1;
  if (c.p.kind == SparsityKind::kl) {
    slope = 0;
    const double rho = c.p.rho;
    for (float s : colsum_ref) {
      const double mean = double(s) / double(c.M);
      slope = std::max(slope, std::fabs(-rho / mean + (1 - rho) / (1 - mean)));
    }
  }
  return slope * max_stat(c, h) / double(c.M);
}

struct FwdOut {
  std::vector<float> colsum, value;
};

FwdOut run_forward(const SparsityCase& c, const std::vector<float>& h) {
  DeviceBuffer<float> dh(h), colsum(size_t(c.N)), value(1), ws(size_t(ae::cuda::sparsity_workspace_floats(c.M, c.N)));
  name_for_memcheck(dh, "h"), name_for_memcheck(colsum, "colsum"), name_for_memcheck(value, "value");
  name_for_memcheck(ws, "workspace");
  ae::cuda::sparsity_forward<float>(c.p, dh.get(), c.M, c.N, colsum.get(), value.get(), ws.get(), nullptr);
  expect_guards(c.params("sparsity_forward"), dh, colsum, value, ws);
  EXPECT_TRUE(bitwise_equal("h (only read)", dh.download(), h));
  return {colsum.download(), value.download()};
}

// dh (+)= the gradient on the device; dh0 is dh's prior content when accumulating.
std::vector<float> run_backward(const SparsityCase& c, float dvalue, const std::vector<float>& h,
                                const std::vector<float>& colsum, const std::vector<float>* dh0) {
  DeviceBuffer<float> dv(std::vector<float>{dvalue}), dh(h), cs(colsum), g(size_t(c.M * c.N));
  name_for_memcheck(dv, "dvalue"), name_for_memcheck(dh, "h"), name_for_memcheck(cs, "colsum");
  name_for_memcheck(g, "dh");
  if (dh0) g.upload(*dh0);
  ae::cuda::sparsity_backward<float>(c.p, dv.get(), dh.get(), cs.get(), c.M, c.N, g.get(), dh0 != nullptr, nullptr);
  expect_guards(c.params("sparsity_backward"), dv, dh, cs, g);
  return g.download();
}

class Sparsity : public DeviceTestWithParam<SparsityCase> {};

TEST_P(Sparsity, ForwardMatchesCpuReference) {
  const SparsityCase& c = GetParam();
  SCOPED_TRACE(c.params("sparsity_forward"));
  const std::vector<float> h = code(c);
  std::vector<float> colsum_ref(size_t(c.N)), value_ref(1);
  cpu::sparsity_forward<float>(c.p, h.data(), c.M, c.N, colsum_ref.data(), value_ref.data());
  const FwdOut got = run_forward(c, h);

  FailureDump dump(c.params("sparsity_forward"));
  dump.add("h", h), dump.add("colsum_ref", colsum_ref), dump.add("colsum", got.colsum);
  dump.add("value_ref", value_ref), dump.add("value", got.value);
  ASSERT_TRUE(nonzero("colsum_ref", colsum_ref));
  ASSERT_TRUE(nonzero("value_ref", value_ref));
  EXPECT_TRUE(compare("colsum", got.colsum, colsum_ref, tolerance<float>(), c.M, max_stat(c, h)));
  EXPECT_TRUE(
      compare("value", got.value, value_ref, tolerance<float>(), c.M * c.N, value_term_scale(c, h, colsum_ref)));
}

TEST_P(Sparsity, BackwardMatchesCpuReference) {
  const SparsityCase& c = GetParam();
  SCOPED_TRACE(c.params("sparsity_backward"));
  const std::vector<float> h = code(c);
  // Both sides take the reference forward's column sums: this compares the gradient alone.
  std::vector<float> colsum(size_t(c.N)), value(1);
  cpu::sparsity_forward<float>(c.p, h.data(), c.M, c.N, colsum.data(), value.data());
  const float dvalue = 0.75f;  // a term weight, not 1: the seed must scale the gradient
  const std::vector<float> dh0 = uniform(size_t(c.M * c.N), -1, 1, c.seed, 2);
  std::vector<float> ref(size_t(c.M * c.N)), ref_acc = dh0;
  cpu::sparsity_backward<float>(c.p, &dvalue, h.data(), colsum.data(), c.M, c.N, ref.data(), false);
  cpu::sparsity_backward<float>(c.p, &dvalue, h.data(), colsum.data(), c.M, c.N, ref_acc.data(), true);
  const std::vector<float> got = run_backward(c, dvalue, h, colsum, nullptr);
  const std::vector<float> got_acc = run_backward(c, dvalue, h, colsum, &dh0);

  FailureDump dump(c.params("sparsity_backward"));
  dump.add("h", h), dump.add("colsum", colsum), dump.add("dh0", dh0);
  dump.add("dh_ref", ref), dump.add("dh", got), dump.add("dh_acc_ref", ref_acc), dump.add("dh_acc", got_acc);
  ASSERT_TRUE(nonzero("dh_ref", ref));
  const double scale = max_abs(ref);  // one gradient element
  EXPECT_TRUE(compare("dh", got, ref, same_math_tolerance<float>(), 1, scale));
  EXPECT_TRUE(compare("dh accumulated", got_acc, ref_acc, same_math_tolerance<float>(), 1, scale));
}

// ---- the documented order: the fused epilogue's contract ------------------------------------

// sparsity.cuh's order on the host, literally and with its own constants: chunk c, group g (rows
// 64c + 4g .. + 3), rows ≥ M skipped; every sum in float from 0 in ascending order.
std::vector<float> documented_partials(SparsityKind kind, const std::vector<float>& x, int64_t M, int64_t N) {
  static_assert(ae::cuda::SPARSITY_CHUNK_ROWS == 64, "the documented chunk is 64 rows: the fused epilogue relies on it");
  return documented_column_partials([&](float v) { return sparsity_stat(kind, v); }, x, M, N);
}
std::vector<float> documented_colsum(const std::vector<float>& partials, int64_t N) {
  std::vector<float> s(size_t(N), 0.0f);
  for (size_t k = 0; k < partials.size(); ++k) s[k % size_t(N)] += partials[k];  // k = c·N + j: ascending c
  return s;
}

size_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = a.size() == b.size() ? 0 : std::max(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

struct OrderOut {
  std::vector<float> partials, colsum;
};
// sparsity_column_partials, then sparsity_finalize on those partials.
OrderOut run_partials_then_finalize(const SparsityCase& c, const std::vector<float>& h) {
  DeviceBuffer<float> dh(h), part(size_t(c.chunks() * c.N)), colsum(size_t(c.N)), value(1);
  name_for_memcheck(dh, "h"), name_for_memcheck(part, "partials"), name_for_memcheck(colsum, "colsum");
  name_for_memcheck(value, "value");
  ae::cuda::sparsity_column_partials<float>(c.p, dh.get(), c.M, c.N, part.get(), nullptr);
  ae::cuda::sparsity_finalize<float>(c.p, part.get(), c.M, c.N, colsum.get(), value.get(), nullptr);
  expect_guards(c.params("sparsity_column_partials"), dh, part, colsum, value);
  return {part.download(), colsum.download()};
}

TEST_P(Sparsity, PartialsFollowTheDocumentedOrderExactly) {
  const SparsityCase& c = GetParam();
  SCOPED_TRACE(c.params("sparsity_column_partials"));
  const std::vector<float> h = code(c);
  const std::vector<float> part_ref = documented_partials(c.p.kind, h, c.M, c.N);
  const std::vector<float> colsum_ref = documented_colsum(part_ref, c.N);
  const OrderOut got = run_partials_then_finalize(c, h);

  FailureDump dump(c.params("sparsity_column_partials"));
  dump.add("h", h), dump.add("partials_ref", part_ref), dump.add("partials", got.partials);
  dump.add("colsum_ref", colsum_ref), dump.add("colsum", got.colsum);
  ASSERT_TRUE(nonzero("partials_ref", part_ref));
  EXPECT_TRUE(compare("partials", got.partials, part_ref, exact_tolerance(), 1, 1.0));
  EXPECT_TRUE(compare("colsum", got.colsum, colsum_ref, exact_tolerance(), 1, 1.0));
}

std::vector<SparsityCase> sparsity_cases() {
  // M: one row, part of a group, a chunk −1/±0/+1 (the last group partial or alone), two chunks and
  // a group over, four chunks + 1. N: around the 32-column block and its tail.
  std::vector<SparsityCase> v;
  uint64_t seed = 1;
  for (int64_t M : {1, 5, 63, 64, 65, 130, 257})
    for (int64_t N : {1, 3, 64, 67}) {
      v.push_back({l1(), M, N, seed++});
      v.push_back({kl(seed % 2 ? 0.05f : 0.3f), M, N, seed++});
    }
  // Large odd shapes: many chunks (a long column sum), and codes wider than the finalize block's
  // 256 threads (each thread then takes several units, in order).
  v.push_back({kl(0.05f), 1031, 129, seed++});
  v.push_back({l1(), 4099, 7, seed++});
  v.push_back({kl(0.1f), 37, 1031, seed++});
  v.push_back({l1(), 200, 517, seed++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, Sparsity, ::testing::ValuesIn(sparsity_cases()),
                         [](const auto& info) { return test_name(info.param.params()); });

// The exact check above is discriminating: the near misses of the documented order a fused
// epilogue could fall into (plain row order within each chunk, 8-row groups, one float sum down the
// whole column) each give other bits for most columns of a random code.
class SparsityOrder : public DeviceTest {};
TEST_F(SparsityOrder, NearMissOrdersWouldFail) {
  const SparsityCase c{kl(0.05f), 257, 67, 77};
  const std::vector<float> h = code(c);
  const OrderOut got = run_partials_then_finalize(c, h);
  ASSERT_EQ(bit_mismatches(got.partials, documented_partials(c.p.kind, h, c.M, c.N)), 0u);
  const int64_t chunks = c.chunks();
  std::vector<float> rows_in_order(got.partials.size()), groups_of_8(got.partials.size()), whole(size_t(c.N));
  for (int64_t j = 0; j < c.N; ++j) {
    float col = 0.0f;
    for (int64_t r = 0; r < c.M; ++r) col += h[size_t(r * c.N + j)];
    whole[size_t(j)] = col;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      float seq = 0.0f, sum8 = 0.0f;
      for (int64_t g = 0; g < 8; ++g) {
        float q = 0.0f;
        for (int64_t i = 0; i < 8; ++i) {
          const int64_t r = ch * 64 + 8 * g + i;
          if (r < c.M) q += h[size_t(r * c.N + j)], seq += h[size_t(r * c.N + j)];
        }
        sum8 += q;
      }
      rows_in_order[size_t(ch * c.N + j)] = seq, groups_of_8[size_t(ch * c.N + j)] = sum8;
    }
  }
  const size_t seq_bad = bit_mismatches(got.partials, rows_in_order);
  const size_t g8_bad = bit_mismatches(got.partials, groups_of_8);
  const size_t whole_bad = bit_mismatches(got.colsum, whole);
  std::printf(
      "[ order    ] partials differ from row order in %zu of %zu, from 8-row groups in %zu; colsum from one "
      "column sum in %zu of %lld\n",
      seq_bad, got.partials.size(), g8_bad, whole_bad, static_cast<long long>(c.N));
  EXPECT_GT(seq_bad, got.partials.size() / 4) << "row order within a chunk would pass the exact check";
  EXPECT_GT(g8_bad, got.partials.size() / 4) << "8-row groups would pass the exact check";
  EXPECT_GT(whole_bad, size_t(c.N) / 4) << "one sum down the whole column would pass the exact check";
}

// Two runs under different sim schedules give the same bits: no atomics, no schedule-dependent order.
class SparsityDeterminism : public DeviceTest {};
TEST_F(SparsityDeterminism, TwoSchedulesBitEqual) {
  for (const SparsityCase& c : {SparsityCase{l1(), 257, 67, 90}, SparsityCase{kl(0.05f), 130, 517, 91}}) {
    SCOPED_TRACE(c.params());
    const std::vector<float> h = code(c);
    FwdOut a, b;
    with_sim_seed(101, [&] { a = run_forward(c, h); });
    with_sim_seed(202, [&] { b = run_forward(c, h); });
    ASSERT_TRUE(nonzero("value", a.value));
    EXPECT_TRUE(bitwise_equal("colsum", a.colsum, b.colsum));
    EXPECT_TRUE(bitwise_equal("value", a.value, b.value));
  }
}

class SparsityEdge : public DeviceTest {};

TEST_F(SparsityEdge, WorkspaceSize) {
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(0, 0), 1);
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(0, 5), 1);
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(7, 0), 1);
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(1, 3), 3);
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(64, 3), 3);
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(65, 3), 6);
  EXPECT_EQ(ae::cuda::sparsity_workspace_floats(257, 67), 5 * 67);
}

// No rows: column sums 0 and value 0 (kl's log(ρ/0) never taken), as the reference; no columns:
// value 0. The backward then writes nothing.
TEST_F(SparsityEdge, EmptyCodeGivesZero) {
  for (const SparsityParams& p : {l1(), kl(0.05f)})
    for (auto [M, N] : {std::pair<int64_t, int64_t>{0, 5}, {3, 0}, {0, 0}}) {
      const SparsityCase c{p, M, N, 1};
      SCOPED_TRACE(c.params());
      const FwdOut got = run_forward(c, std::vector<float>(size_t(M * N)));
      std::vector<float> colsum_ref(size_t(N), NAN), value_ref(1, NAN);
      cpu::sparsity_forward<float>(p, nullptr, M, N, colsum_ref.data(), value_ref.data());
      EXPECT_TRUE(bitwise_equal("colsum", got.colsum, colsum_ref));
      EXPECT_TRUE(bitwise_equal("value", got.value, value_ref));
      EXPECT_TRUE(bitwise_equal("value is 0", got.value, {0.0f}));

      DeviceBuffer<float> dv(std::vector<float>{1.0f}), h(static_cast<size_t>(M * N)), cs(static_cast<size_t>(N)),
          dh(static_cast<size_t>(M * N) + 1);
      ae::cuda::sparsity_backward<float>(p, dv.get(), h.get(), cs.get(), M, N, dh.get(), false, nullptr);
      for (float e : dh.download()) EXPECT_TRUE(std::isnan(e)) << "the backward of an empty code wrote";
      expect_guards("sparsity_backward empty", dv, h, cs, dh);
    }
}

TEST_F(SparsityEdge, BadArgumentsAreErrors) {
  DeviceBuffer<float> h(6), colsum(3), value(1), ws(3), dv(std::vector<float>{1.0f}), dh(6);
  auto fwd = [&](SparsityParams p, int64_t M, int64_t N, float* hp, float* cp, float* vp, float* wp) {
    ae::cuda::sparsity_forward<float>(p, hp, M, N, cp, vp, wp, nullptr);
  };
  auto bwd = [&](SparsityParams p, int64_t M, int64_t N, const float* dvp, float* dhp) {
    ae::cuda::sparsity_backward<float>(p, dvp, h.get(), colsum.get(), M, N, dhp, false, nullptr);
  };
  for (SparsityParams bad : {SparsityParams{SparsityKind::none, 0}, SparsityParams{static_cast<SparsityKind>(9), 0.1f},
                             kl(0.0f), kl(1.0f), kl(-0.5f), kl(NAN)}) {
    SCOPED_TRACE(std::string(sparsity_kind_name(bad.kind)) + " rho=" + std::to_string(bad.rho));
    EXPECT_THROW(fwd(bad, 2, 3, h.get(), colsum.get(), value.get(), ws.get()), ae::Error);
    EXPECT_THROW(bwd(bad, 2, 3, dv.get(), dh.get()), ae::Error);
    EXPECT_THROW(ae::cuda::sparsity_column_partials<float>(bad, h.get(), 2, 3, ws.get(), nullptr), ae::Error);
    EXPECT_THROW(ae::cuda::sparsity_finalize<float>(bad, ws.get(), 2, 3, colsum.get(), value.get(), nullptr),
                 ae::Error);
  }
  EXPECT_THROW(fwd(l1(), -1, 3, h.get(), colsum.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(l1(), 2, -3, h.get(), colsum.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(l1(), 2, 3, nullptr, colsum.get(), value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(l1(), 2, 3, h.get(), nullptr, value.get(), ws.get()), ae::Error);
  EXPECT_THROW(fwd(l1(), 2, 3, h.get(), colsum.get(), nullptr, ws.get()), ae::Error);
  EXPECT_THROW(fwd(l1(), 2, 3, h.get(), colsum.get(), value.get(), nullptr), ae::Error);
  EXPECT_THROW(ae::cuda::sparsity_finalize<float>(l1(), nullptr, 2, 3, colsum.get(), value.get(), nullptr), ae::Error);
  EXPECT_THROW(bwd(kl(0.1f), -2, 3, dv.get(), dh.get()), ae::Error);
  EXPECT_THROW(bwd(kl(0.1f), 2, 3, nullptr, dh.get()), ae::Error);
  EXPECT_THROW(bwd(kl(0.1f), 2, 3, dv.get(), nullptr), ae::Error);
}

#if AE_CUDATEST_SIM
// The kernels run under memcheck with their buffers named: h read one element too far (the whole
// code shifted by one) is reported, not silently taken from the guard bytes.
class SparsityMemcheck : public DeviceTest {};
TEST_F(SparsityMemcheck, AReadPastHIsReported) {
  if (!ae::sim::checks_instrumented()) GTEST_SKIP() << "memcheck needs the instrumented build (not the ASan one)";
  const unsigned saved = ae::sim::checks();
  ae::sim::set_checks(ae::sim::check_all);
  const SparsityCase c{kl(0.05f), 65, 3, 5};
  DeviceBuffer<float> h(code(c)), part(size_t(c.chunks() * c.N)), dv(std::vector<float>{1.0f}), cs(size_t(c.N)),
      dh(size_t(c.M * c.N));
  name_for_memcheck(h, "h"), name_for_memcheck(part, "partials"), name_for_memcheck(dv, "dvalue");
  name_for_memcheck(cs, "colsum"), name_for_memcheck(dh, "dh");
  std::string fwd_what, bwd_what;
  try {
    ae::cuda::sparsity_column_partials<float>(c.p, h.get() + 1, c.M, c.N, part.get(), nullptr);
  } catch (const ae::Error& e) {
    fwd_what = e.what();
  }
  try {
    ae::cuda::sparsity_backward<float>(c.p, dv.get(), h.get() + 1, cs.get(), c.M, c.N, dh.get(), false, nullptr);
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
