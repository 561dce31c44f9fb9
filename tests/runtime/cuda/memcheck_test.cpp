// memcheck on ae's own device memory (cuda-sim): the executor leaves a gap after every arena buffer
// and names each tensor's bytes, so a kernel that runs one element past an arena tensor is reported
// naming that tensor instead of silently writing into its neighbour; the gapped layout keeps every
// pair of tensors that are live together apart, and each tensor inside its named range. (Tensors
// that reuse one space at different times are checked against the union of their extents.)
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "graph/build.h"
#include "kernels/common/error.h"
#include "kernels/cuda/unary.cuh"
#include "runtime/backend.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "tests/runtime/cuda/on_device.h"

#if AE_CUDATEST_SIM
#include "runtime/sim/sim.h"
#endif

namespace ae {
namespace {

TEST(GuardedArena, TensorsLiveTogetherAreAGuardApartAndInsideTheirNames) {
  for (const char* spec : {"784-256r-32-256r-784s", "37-13t-5-13t-37", "20-7s-20s:tied"}) {
    for (GraphMode mode : {GraphMode::train, GraphMode::encode, GraphMode::reconstruct}) {
      const Plan p = make_plan(parse_spec(spec), mode, Loss::mse, 29);
      const int64_t guard = 256;
      const GuardedArena a = guarded_arena(p, guard);
      SCOPED_TRACE(std::string(spec) + " " + graph_mode_name(mode));
      ASSERT_FALSE(p.buffers.empty());
      for (const BufferPlan& x : p.buffers) {
        const int64_t xlo = a.offset[size_t(x.tensor)], xhi = xlo + p.graph.tensors[size_t(x.tensor)].bytes(p.batch);
        EXPECT_LE(xhi, a.bytes) << p.graph.tensors[size_t(x.tensor)].name;
        bool named = false;
        for (const auto& [lo, hi, name] : a.names) named |= lo <= xlo && xhi <= hi;
        EXPECT_TRUE(named) << p.graph.tensors[size_t(x.tensor)].name << " is outside every named range";
        for (const BufferPlan& y : p.buffers) {
          if (&x == &y || x.alias_of == y.tensor || y.alias_of == x.tensor) continue;
          const bool together = x.first_op <= y.last_op && y.first_op <= x.last_op;
          const int64_t ylo = a.offset[size_t(y.tensor)];
          if (!together || ylo < xlo) continue;
          EXPECT_GE(ylo - xhi, guard) << p.graph.tensors[size_t(x.tensor)].name << " and "
                                      << p.graph.tensors[size_t(y.tensor)].name << " are live together";
        }
      }
      EXPECT_EQ(guarded_arena(p, 0).offset, p.tensor_offset) << "no guard: the planner's layout";
    }
  }
}

#if AE_CUDATEST_SIM
TEST(SimMemcheckArena, OneElementPastAnArenaTensorIsReportedNamingIt) {
  AE_SKIP_WITHOUT_CUDA_DEVICE();
  if (!ae::sim::checks_instrumented()) GTEST_SKIP() << "memcheck needs the instrumented build (not the ASan one)";
  const unsigned saved = ae::sim::checks();
  ae::sim::set_checks(ae::sim::check_all);
  auto backend = make_backend(cuda_backend_name());
  Model m = Model::create(parse_spec("40-32r-8-32r-40s"), 3, Loss::mse);
  Executor ex(make_plan(m.spec, GraphMode::train, m.loss, 16), *backend, m.params);
  const Plan& p = ex.plan();
  const GuardedArena a = guarded_arena(p, int64_t(backend->device()->guard_bytes()));
  int checked = 0;
  for (const BufferPlan& b : p.buffers) {
    const Tensor& t = p.graph.tensors[size_t(b.tensor)];
    if (t.role == TensorRole::input || t.bytes(p.batch) % 128 != 0) continue;  // whole 128-byte blocks only
    // Tensors that share arena space at different times are held to the union of their extents:
    // only one whose named range ends where it ends has a gap right after it.
    const int64_t end = a.offset[size_t(b.tensor)] + t.bytes(p.batch);
    bool gap_after = false;
    for (const auto& [lo, hi, name] : a.names) gap_after |= hi == end;
    const int64_t n = t.bytes(p.batch) / int64_t(sizeof(float));
    float* x = ex.data(b.tensor);
    ae::cuda::unary<float>(UnaryOp::scale, 1.0f, x, x, n, nullptr);  // in bounds: fine
    std::string what;
    try {
      ae::cuda::unary<float>(UnaryOp::scale, 1.0f, x, x, n + 1, nullptr);  // the planted off-by-one
    } catch (const Error& e) {
      what = e.what();
    }
    if (!gap_after) {
      EXPECT_EQ(what, "") << t.name << " shares its space with a longer tensor";
      continue;
    }
    EXPECT_NE(what.find("memcheck: invalid 4-byte read"), std::string::npos) << t.name << ": " << what;
    EXPECT_NE(what.find(t.name), std::string::npos) << what;
    EXPECT_NE(what.find("past its end"), std::string::npos) << what;
    ++checked;
  }
  EXPECT_GE(checked, 3) << "too few arena tensors of whole 128-byte blocks to plant the off-by-one in";
  ae::sim::set_checks(saved);
}
#endif

}  // namespace
}  // namespace ae
