// The mechanics of `ae bench --device cuda`'s event timings (runtime/cuda/bench_cuda.cpp), run on
// this build's cuda backend: the executor's boundary hook sees every op boundary op by op and only
// the two around the graph launch when replaying; the timings run real steps of the backend's own
// plan (the weights after them equal those of the same number of plain steps, bit for bit) and
// put the executor's graph mode back. On cuda-sim the "times" are host time: only their shape and
// sign are checked here, and ae bench never reports them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "graph/build.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "runtime/backend.h"
#include "runtime/cuda/bench_cuda.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "tests/runtime/cuda/on_device.h"
#if AE_CUDATEST_SIM
#include "runtime/sim/sim.h"
#endif

namespace ae {

namespace {

constexpr int64_t BATCH = 16;
const char* const SPEC = "96-40r-8-40r-96s";

std::unique_ptr<Backend> device_backend() {
  if (!cuda_backend_available()) return nullptr;
  return make_backend(cuda_backend_name());
}

std::unique_ptr<Executor> train_executor(Model& m, Backend& b) {
  auto ex = std::make_unique<Executor>(make_plan(m.spec, GraphMode::train, m.loss, BATCH), b, m.params);
  // Both staging buffers (they alternate between runs) hold the same batch, as in ae bench.
  for (int buf = 0; buf < 2; ++buf) {
    float* x = ex->input();
    for (int64_t i = 0; i < BATCH * m.spec.input; ++i) x[i] = philox_uniform(11, 0, PhiloxPurpose::data, uint64_t(i));
    if (buf == 0) ex->submit_input(BATCH);  // the first run launches this one; input() flips
  }
  return ex;
}

Model fresh_model(const cpu::OptConfig& opt) {
  Model m = Model::create(parse_spec(SPEC), 3, Loss::mse);
  m.ensure_state_slots(cpu::opt_state_slots(opt));
  return m;
}

TEST(BoundaryHook, CpuAndDeviceSeeEveryOpBoundaryOpByOpAndTwoAroundAGraph) {
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adam);
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(make_backend("cpu"));
  if (auto d = device_backend()) backends.push_back(std::move(d));
  for (auto& b : backends) {
    Model m = fresh_model(opt);
    Executor ex(make_plan(m.spec, GraphMode::train, m.loss, BATCH), *b, m.params);
    const size_t n = ex.plan().ops.size();
    std::vector<size_t> seen;
    ex.set_boundary_hook([&](size_t i) { seen.push_back(i); });
    int64_t step = 0;
    for (bool graph : {false, true}) {
      ex.set_use_graph(graph);
      for (int rep = 0; rep < 2; ++rep) {  // the first graph step captures, the second replays
        seen.clear();
        ex.run(BATCH, &opt, ++step);
        std::vector<size_t> want;
        if (graph && b->device()) {
          want = {0, n};
        } else {
          for (size_t i = 0; i <= n; ++i) want.push_back(i);
        }
        EXPECT_EQ(seen, want) << b->name() << (graph ? " graph" : " op by op") << " step " << step;
      }
    }
    seen.clear();
    ex.set_boundary_hook(nullptr);
    ex.run(BATCH, &opt, ++step);
    EXPECT_TRUE(seen.empty()) << b->name() << ": a cleared hook was called";
  }
}

class BenchTimings : public ::testing::Test {
 protected:
  void SetUp() override {
    AE_SKIP_WITHOUT_CUDA_DEVICE();
    m_backend = device_backend();
#if AE_CUDATEST_SIM
    // The timings hold the stream until the host has queued the step (kernels/cuda/hold.cuh);
    // with streams that run work at enqueue the hold can only time out.
    if (!ae::sim::deferred_streams()) GTEST_SKIP() << "needs the sim's deferred streams (AE_SIM_STREAMS=eager is set)";
#endif
  }
  std::unique_ptr<Backend> m_backend;
};

// `steps` plain full-batch steps (1..steps) from a fresh model; the parameter block after them.
std::vector<char> plain_steps(Backend& b, const cpu::OptConfig& opt, int64_t steps) {
  Model m = fresh_model(opt);
  auto ex = train_executor(m, b);
  for (int64_t s = 1; s <= steps; ++s) ex->run(BATCH, &opt, s);
  ex->sync_params_to_host();
  const char* p = static_cast<const char*>(m.params.block());
  return {p, p + m.params.block_bytes()};
}

TEST_F(BenchTimings, GraphStepsAreRealStepsOfTheBackendsPlan) {
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adam);
  Model m = fresh_model(opt);
  auto ex = train_executor(m, *m_backend);
  const cuda_bench::Repeat r{1, 2, 3};  // warmup 1, then 3 runs of 2 steps: 7 steps
  int64_t step = 0;
  auto ms = cuda_bench::time_graph_steps(*ex, &opt, step, r);
  EXPECT_EQ(step, 7);
  ASSERT_EQ(ms.size(), 3u);
  for (double t : ms) EXPECT_TRUE(std::isfinite(t) && t >= 0) << t;
  EXPECT_TRUE(ex->use_graph());
  ex->sync_params_to_host();
  const auto want = plain_steps(*m_backend, opt, 7);
  ASSERT_EQ(want.size(), m.params.block_bytes());
  EXPECT_EQ(std::memcmp(want.data(), m.params.block(), want.size()), 0)
      << "the timed steps are not the backend's own steps";
}

TEST_F(BenchTimings, OpTimingsCoverEveryOpAndRestoreGraphMode) {
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::sgd);
  opt.momentum = 0.9;
  Model m = fresh_model(opt);
  auto ex = train_executor(m, *m_backend);
  const cuda_bench::Repeat r{2, 1, 3};  // op by op: warmup + runs = 5 steps
  int64_t step = 0;
  auto ops = cuda_bench::time_ops(*ex, &opt, step, r);
  EXPECT_EQ(step, 5);
  ASSERT_EQ(ops.size(), ex->plan().ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(ops[i].index, int(i));
    EXPECT_FALSE(ops[i].kernel.empty());
    EXPECT_TRUE(std::isfinite(ops[i].ms) && ops[i].ms >= 0) << ops[i].kernel << " " << ops[i].ms;
  }
  EXPECT_EQ(ops.front().op, "dense_fwd");
  EXPECT_EQ(ops.back().op, "optimizer_step");
  EXPECT_TRUE(ex->use_graph()) << "time_ops left the executor op by op";
  ex->sync_params_to_host();
  const auto want = plain_steps(*m_backend, opt, 5);  // graph steps: bit-equal to op by op
  EXPECT_EQ(std::memcmp(want.data(), m.params.block(), want.size()), 0);
}

}  // namespace
}  // namespace ae
