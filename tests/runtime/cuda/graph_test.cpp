// The CUDA-graph path equals the op-by-op path bit for bit over N steps (the per-step optimizer
// values are read from device memory, so one captured graph serves every step), and the executor's
// device memory comes from the caching pool once: on this build's cuda backend (cuda-sim, or cuda
// with -DAE_ENABLE_CUDA=ON, where these report SKIPPED without a GPU). Plus what the registry offers
// in each flavour (`auto`, the other flavour's name), which needs no device.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "graph/build.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "runtime/backend.h"
#include "runtime/cuda/device_pool.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "tests/runtime/cuda/on_device.h"

namespace ae {

namespace {

constexpr int64_t BATCH = 32;

// The fixture of the tests that need the device: SKIPPED, with the registry's reason, without one.
class OnCudaDevice : public ::testing::Test {
 protected:
  void SetUp() override { AE_SKIP_WITHOUT_CUDA_DEVICE(); }
};
class CudaGraph : public OnCudaDevice {};
class CudaDevicePool : public OnCudaDevice {};

// `make_backend(name)` fails with one line of text that contains `expect`.
void expect_one_line_error(const std::string& name, const std::string& expect) {
  try {
    make_backend(name);
    ADD_FAILURE() << "--device " << name << " gave a backend";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(expect), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

Plan train_plan(const Model& m, int64_t batch) {
  return make_plan(m.spec, GraphMode::train, m.loss, batch);
}

// Runs `steps` steps (a full batch each, then one partial batch) and returns the losses; the
// model's params end as the device left them.
std::vector<double> run_steps(Model& m, Backend& b, bool graph, int steps, cpu::OptConfig opt) {
  Executor ex(train_plan(m, BATCH), b, m.params);
  ex.set_use_graph(graph);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    int64_t n = s + 1 == steps ? BATCH - 5 : BATCH;
    float* x = ex.input();
    for (int64_t i = 0; i < n * m.spec.input; ++i)
      x[i] = philox_uniform(3, uint64_t(s), PhiloxPurpose::data, uint64_t(i));
    opt.lr = 1e-3 * (1.0 + 0.1 * s);  // a schedule: the replayed graph must see each step's lr
    losses.push_back(ex.run(n, &opt, s + 1));
  }
  ex.sync_params_to_host();
  return losses;
}

TEST_F(CudaGraph, GraphReplayEqualsOpByOpBitForBit) {
  for (cpu::OptKind kind : {cpu::OptKind::adam, cpu::OptKind::sgd, cpu::OptKind::rmsprop}) {
    cpu::OptConfig opt = cpu::default_opt_config(kind);
    if (kind == cpu::OptKind::sgd) opt.momentum = 0.9;
    auto b = make_backend(cuda_backend_name());
    Model a = Model::create(parse_spec("784-64r-16-64r-784s"), 5, Loss::bce);
    Model g = Model::create(parse_spec("784-64r-16-64r-784s"), 5, Loss::bce);
    a.ensure_state_slots(cpu::opt_state_slots(opt));
    g.ensure_state_slots(cpu::opt_state_slots(opt));
    auto la = run_steps(a, *b, false, 6, opt), lg = run_steps(g, *b, true, 6, opt);
    ASSERT_EQ(la.size(), lg.size());
    for (size_t s = 0; s < la.size(); ++s)
      EXPECT_EQ(std::memcmp(&la[s], &lg[s], sizeof(double)), 0) << cpu::opt_name(kind) << " step " << s + 1 << ": "
                                                                << la[s] << " vs " << lg[s];
    EXPECT_LT(lg[4], lg[0]);  // it trains
    ASSERT_EQ(a.params.block_bytes(), g.params.block_bytes());
    for (size_t i = 0; i < a.params.count(); ++i) {
      size_t bytes = size_t(a.params.info(i).size()) * sizeof(float);
      EXPECT_EQ(std::memcmp(a.params.value(i), g.params.value(i), bytes), 0) << cpu::opt_name(kind) << " " << a.params.info(i).name;
      if (a.params.state(i))
        EXPECT_EQ(std::memcmp(a.params.state(i), g.params.state(i), bytes * size_t(a.params.state_slots())), 0)
            << cpu::opt_name(kind) << " state of " << a.params.info(i).name;
    }
  }
}

TEST_F(CudaGraph, SecondExecutorIsServedFromThePoolCache) {
  auto b = make_backend(cuda_backend_name());
  ASSERT_NE(b->device(), nullptr);
  Model m = Model::create(parse_spec("784-64r-16-64r-784s"), 5, Loss::mse);
  { Executor ex(train_plan(m, BATCH), *b, m.params); }
  std::string first = b->device()->memory_report();
  { Executor ex(train_plan(m, BATCH), *b, m.params); }
  std::string second = b->device()->memory_report();
  // Same requests again: all served from the cache, no new cudaMalloc.
  auto count = [](const std::string& r, const std::string& after) {
    size_t p = r.find(after);
    return p == std::string::npos ? -1L : std::stol(r.substr(p + after.size()));
  };
  EXPECT_EQ(count(first, "("), 0) << first;
  EXPECT_GT(count(second, "("), 0) << second;
  EXPECT_EQ(count(first, "cache, "), count(second, "cache, ")) << first << "\n" << second;
}

TEST_F(CudaDevicePool, SizeClassesAndStatistics) {
  using cuda::DevicePool;
  EXPECT_EQ(DevicePool::size_class(1), 512u);
  EXPECT_EQ(DevicePool::size_class(513), 1024u);
  EXPECT_EQ(DevicePool::size_class(1 << 20), size_t(1) << 20);
  EXPECT_EQ(DevicePool::size_class((1 << 20) + 1), size_t(2) << 20);
  EXPECT_EQ(DevicePool::size_class((5 << 20) + 3), size_t(6) << 20);
  DevicePool pool;
  void* a = pool.allocate(1000);
  void* b = pool.allocate(3 << 20);
  auto s = pool.stats();
  EXPECT_EQ(s.reserved, 1024u + (4u << 20));
  EXPECT_EQ(s.in_use, s.reserved);
  EXPECT_EQ(s.cache_hits, 0);
  pool.deallocate(a);
  void* c = pool.allocate(700);  // same class as a: served from the cache
  EXPECT_EQ(c, a);
  s = pool.stats();
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.device_mallocs, 2);
  EXPECT_EQ(s.peak_in_use, 1024u + (4u << 20));
  pool.deallocate(b);
  pool.deallocate(c);
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(pool.stats().reserved, 1024u + (4u << 20));  // cached, not released
  pool.release_cached();
  EXPECT_EQ(pool.stats().reserved, 0u);
  EXPECT_THROW(pool.deallocate(reinterpret_cast<void*>(0x1234)), Error);
}

#if AE_CUDATEST_SIM
TEST(CudaSimBackend, AutoNeverPicksTheSimAndCudaIsAClearError) {
  EXPECT_EQ(make_backend("auto")->name(), "cpu");
  EXPECT_EQ(make_backend("cuda-sim")->name(), "cuda-sim");
  expect_one_line_error("cuda", "--device cuda");
}
#else
// The nvcc build: `auto` picks cuda exactly when a GPU is present; cuda-sim is a clear error naming
// the other build; without a GPU, cuda is a clear error too. Runs with or without a GPU.
TEST(CudaBackend, AutoPicksCudaOnlyWithAGpuAndCudaSimIsAClearError) {
  EXPECT_EQ(std::string(cuda_backend_name()), "cuda");
  const bool gpu = cuda_backend_available();
  EXPECT_EQ(make_backend("auto")->name(), gpu ? "cuda" : "cpu");
  expect_one_line_error("cuda-sim", "-DAE_ENABLE_CUDA=ON");
  if (gpu)
    EXPECT_EQ(make_backend("cuda")->name(), "cuda");
  else
    expect_one_line_error("cuda", "--device cuda: no CUDA GPU");
}
#endif

}  // namespace
}  // namespace ae
