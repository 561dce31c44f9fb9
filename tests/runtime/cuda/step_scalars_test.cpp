// The step-scalar block (runtime/cuda/step_block.h) under CUDA-graph replay, on this build's device
// (cuda-sim; cuda with -DAE_ENABLE_CUDA=ON, SKIPPED without a GPU): one graph, captured once, that
// runs a Philox fill reading (seed, step) from the block, replayed at two steps, draws each step's
// bits — equal to the same kernel launched op by op and to the host Philox bit for bit. Beside it
// the failure the block prevents: the same fill taking the step by value, captured once, replays
// the step of capture time. Plus the block's values as the backend builds them from an OpContext.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/optimizer.cuh"
#include "runtime/cuda/device_pool.h"
#include "runtime/cuda/step_block.h"
#include "tests/runtime/cuda/on_device.h"
#include "tests/runtime/cuda/philox_fill.cuh"

namespace ae {
namespace {

constexpr uint64_t SEED = 0x5eed0000abcd1234ull;
constexpr int64_t N = 1037;  // draws; not a multiple of the 256-thread block
constexpr size_t WORDS = size_t(N) * 4;

// The host reference: the four words of each draw, as philox_fill.cu lays them out.
std::vector<uint32_t> host_draws(uint64_t seed, int64_t step) {
  std::vector<uint32_t> v(WORDS);
  for (int64_t i = 0; i < N; ++i) {
    const PhiloxBlock b = philox_draw(seed, uint64_t(step), PhiloxPurpose::corruption, uint64_t(i));
    for (int w = 0; w < 4; ++w) v[size_t(4 * i + w)] = b.v[w];
  }
  return v;
}

size_t mismatches(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) n += a[i] != b[i];
  return n + (a.size() > b.size() ? a.size() - b.size() : b.size() - a.size());
}

StepScalars at_step(int64_t step) {
  StepScalars s{};
  s.step = step;
  s.seed = SEED;
  s.loss_scale = 1;
  return s;
}

class StepScalarBlockOnDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    AE_SKIP_WITHOUT_CUDA_DEVICE();
    AE_CUDA_CHECK(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking));  // deferred on the sim
    m_block = std::make_unique<cuda::StepScalarBlock>(m_pool);
    m_out = static_cast<uint32_t*>(m_pool.allocate(WORDS * sizeof(uint32_t)));
  }
  void TearDown() override {
    if (m_stream) cudaStreamSynchronize(m_stream);
    for (cudaGraphExec_t g : m_graphs) cudaGraphExecDestroy(g);
    m_block.reset();
    if (m_out) m_pool.deallocate(m_out);
    if (m_stream) cudaStreamDestroy(m_stream);
  }
  // Every output word set to all ones before a run, so a word the kernel leaves unwritten fails.
  void poison() { AE_CUDA_CHECK(cudaMemsetAsync(m_out, 0xff, WORDS * sizeof(uint32_t), m_stream)); }
  std::vector<uint32_t> result() {
    std::vector<uint32_t> v(WORDS);
    AE_CUDA_CHECK(cudaMemcpyAsync(v.data(), m_out, WORDS * sizeof(uint32_t), cudaMemcpyDeviceToHost, m_stream));
    AE_CUDA_CHECK(cudaStreamSynchronize(m_stream));
    return v;
  }
  // What `enqueue` puts on the stream, captured once as the cuda backend captures a step.
  cudaGraphExec_t capture(const std::function<void()>& enqueue) {
    AE_CUDA_CHECK(cudaStreamBeginCapture(m_stream, cudaStreamCaptureModeThreadLocal));
    enqueue();
    cudaGraph_t g = nullptr;
    AE_CUDA_CHECK(cudaStreamEndCapture(m_stream, &g));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    AE_CUDA_CHECK(e);
    m_graphs.push_back(exec);
    return exec;
  }
  std::vector<uint32_t> replay(cudaGraphExec_t g) {
    poison();
    AE_CUDA_CHECK(cudaGraphLaunch(g, m_stream));
    return result();
  }

  cuda::DevicePool m_pool;  // declared first: outlives the block and the buffer
  cudaStream_t m_stream = nullptr;
  std::unique_ptr<cuda::StepScalarBlock> m_block;
  uint32_t* m_out = nullptr;  // [N × 4]
  std::vector<cudaGraphExec_t> m_graphs;
};

TEST_F(StepScalarBlockOnDevice, ReplaysOfOneGraphDrawTheStepWrittenBeforeEach) {
  m_block->write(at_step(1), m_stream);  // the values at capture time
  const cudaGraphExec_t graph =
      capture([&] { cudatest::philox_fill_from_block(m_block->device(), m_out, N, m_stream); });
  const int64_t steps[2] = {7, 8};
  std::vector<uint32_t> replayed[2], op_by_op[2];
  for (int k = 0; k < 2; ++k) {
    m_block->write(at_step(steps[k]), m_stream);  // what the backend does before each launch
    replayed[k] = replay(graph);
    m_block->write(at_step(steps[k]), m_stream);
    poison();
    cudatest::philox_fill_from_block(m_block->device(), m_out, N, m_stream);  // no graph
    op_by_op[k] = result();
  }
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("step " + std::to_string(steps[k]));
    const auto ref = host_draws(SEED, steps[k]);
    EXPECT_EQ(mismatches(replayed[k], ref), 0u) << "graph replay vs host Philox";
    EXPECT_EQ(mismatches(op_by_op[k], ref), 0u) << "op by op vs host Philox";
    EXPECT_EQ(std::memcmp(replayed[k].data(), op_by_op[k].data(), WORDS * sizeof(uint32_t)), 0);
    EXPECT_GT(mismatches(replayed[k], host_draws(SEED, 1)), WORDS * 99 / 100) << "replayed the capture's step";
  }
  // Two replays of the one graph, two steps: different draws (almost every word; a coincidence of a
  // few 32-bit words is possible, a repeated block is not).
  EXPECT_GT(mismatches(replayed[0], replayed[1]), WORDS * 99 / 100);
}

// Why the block exists: a step passed by value is frozen into the graph at capture, so a later
// replay draws the capture's step again, whatever the host's step now is. If this test fails, a
// replay re-reads launch arguments, and the block (this file's first test) would be unnecessary.
TEST_F(StepScalarBlockOnDevice, ByValueStepCapturedOnceReplaysTheCaptureStep) {
  int64_t step = 8;
  poison();
  cudatest::philox_fill_by_value(SEED, step, m_out, N, m_stream);  // without a graph it is right
  EXPECT_EQ(mismatches(result(), host_draws(SEED, 8)), 0u);

  step = 7;
  const cudaGraphExec_t graph = capture([&] { cudatest::philox_fill_by_value(SEED, step, m_out, N, m_stream); });
  step = 8;                                 // the next training step...
  m_block->write(at_step(step), m_stream);  // ...written to the block, which this kernel never reads
  const auto r = replay(graph);
  EXPECT_EQ(mismatches(r, host_draws(SEED, 7)), 0u) << "the captured by-value step should be replayed as captured";
  EXPECT_GT(mismatches(r, host_draws(SEED, 8)), WORDS * 99 / 100) << "the replay drew the new step";
}

// A write captured into a graph would replay the capture's values: the block refuses it.
TEST_F(StepScalarBlockOnDevice, WriteDuringCaptureIsAnError) {
  AE_CUDA_CHECK(cudaStreamBeginCapture(m_stream, cudaStreamCaptureModeThreadLocal));
  EXPECT_THROW(m_block->write(at_step(3), m_stream), Error);
  cudaGraph_t g = nullptr;
  AE_CUDA_CHECK(cudaStreamEndCapture(m_stream, &g));
  if (g) cudaGraphDestroy(g);
  m_block->write(at_step(3), m_stream);  // and works again outside it
  EXPECT_EQ(m_block->last().step, 3);
}

// What the cuda backend writes for a launch: the context's step values, each group's optimizer
// factors at its own learning rate, zeros past group_count. Host only: runs without a device.
TEST(StepScalarsOfContext, CarryStepSeedScaleAndEachGroupsRate) {
  cpu::OptConfig opt = cpu::default_opt_config(cpu::OptKind::adamw);
  OpContext ctx;
  ctx.opt = &opt;
  ctx.step = 5;
  ctx.seed = SEED;
  ctx.loss_scale = 1024;
  ctx.group_count = 3;
  ctx.lr = {1e-3, 2e-3, 5e-4};
  const StepScalars s = cuda::make_step_scalars(ctx);
  EXPECT_EQ(s.step, 5);
  EXPECT_EQ(s.seed, SEED);
  EXPECT_EQ(s.loss_scale, 1024.0f);
  EXPECT_EQ(s.group_count, 3);
  for (int g = 0; g < MAX_PARAM_GROUPS; ++g) {
    GroupStepScalars want{};
    if (g < 3) {
      cpu::OptConfig cfg = opt;
      cfg.lr = ctx.lr[size_t(g)];
      want = cuda::make_group_step_scalars(cfg, 5);
      EXPECT_EQ(s.group[g].lr, float(ctx.lr[size_t(g)])) << "group " << g;
    }
    EXPECT_EQ(std::memcmp(&s.group[g], &want, sizeof want), 0) << "group " << g;
  }
  EXPECT_NE(s.group[0].step_size, s.group[1].step_size);

  OpContext infer;  // no optimizer: step values only
  infer.seed = SEED;
  const StepScalars i = cuda::make_step_scalars(infer);
  EXPECT_EQ(i.step, 0);
  EXPECT_EQ(i.seed, SEED);
  EXPECT_EQ(i.group_count, 0);

  ctx.group_count = MAX_PARAM_GROUPS + 1;
  EXPECT_THROW(cuda::make_step_scalars(ctx), Error);
  ctx.group_count = 1;
  ctx.step = int64_t(1) << 56;  // Philox's step has 56 bits
  EXPECT_THROW(cuda::make_step_scalars(ctx), Error);
}

}  // namespace
}  // namespace ae
