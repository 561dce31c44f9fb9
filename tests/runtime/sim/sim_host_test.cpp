// runtime/sim host side: memory and copies checked against real allocations, error codes and
// strings, the virtual device, launch validation (an invalid launch runs nothing), dynamic shared
// memory opt-in, streams and events, and stream capture into a graph that replays.
#include <cmath>
#include <atomic>
#include <cstring>
#include <thread>

#include "tests/runtime/sim/kernels/sim_test_kernels.cuh"
#include "tests/runtime/sim/sim_test_util.h"

namespace ae::simtest {
namespace {

TEST(SimHost, MemoryCopiesAreCheckedAgainstAllocations) {
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 64 * sizeof(float)), cudaSuccess);
  std::vector<float> h(64, 3.0f), back(64, 0.0f);
  EXPECT_EQ(cudaMemcpy(d, h.data(), 64 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), d, 64 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, h);
  // Past the end of the allocation, or a host pointer where a device one belongs: rejected.
  EXPECT_EQ(cudaMemcpy(d + 1, h.data(), 64 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(back.data(), h.data(), 4, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "cudaGetLastError resets";
  float* d2 = nullptr;
  ASSERT_EQ(cudaMalloc(&d2, 64 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaMemset(d2, 0, 64 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d2 + 32, d, 32 * sizeof(float), cudaMemcpyDeviceToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), d2, 64 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(back[size_t(i)], i < 32 ? 0.0f : 3.0f);
  EXPECT_EQ(cudaMemset(d2 + 60, 0, 8 * sizeof(float)), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaErrorInvalidValue) << "double free";
  EXPECT_EQ(cudaFree(d2), cudaSuccess);
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
  cudaGetLastError();

  void* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, 256), cudaSuccess);
  EXPECT_EQ(cudaFree(pinned), cudaErrorInvalidValue) << "pinned memory is freed with cudaFreeHost";
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
  cudaGetLastError();
}

TEST(SimHost, ErrorNamesAndStringsAreCudas) {
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidConfiguration), "cudaErrorInvalidConfiguration");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidConfiguration), "invalid configuration argument");
  EXPECT_STREQ(cudaGetErrorString(cudaSuccess), "no error");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorLaunchFailure), "unspecified launch failure");
}

TEST(SimHost, VirtualDeviceIsH100LikeAndConfigurable) {
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  cudaDeviceProp p;
  ASSERT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_EQ(p.multiProcessorCount, 132);
  EXPECT_EQ(p.sharedMemPerMultiprocessor, 228u * 1024);
  EXPECT_EQ(p.sharedMemPerBlockOptin, 227u * 1024);
  EXPECT_EQ(p.sharedMemPerBlock, 48u * 1024);
  EXPECT_EQ(p.maxThreadsPerBlock, 1024);
  EXPECT_EQ(p.regsPerBlock, 65536);
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_EQ(p.major, 9);
  int v = 0;
  EXPECT_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  EXPECT_EQ(v, 132);
  EXPECT_EQ(cudaGetDeviceProperties(&p, 1), cudaErrorInvalidDevice);
  cudaGetLastError();

  const ae::sim::DeviceConfig saved = ae::sim::device_config();
  ae::sim::DeviceConfig small = saved;
  small.sm_count = 8;
  small.max_threads_per_block = 256;
  ae::sim::set_device_config(small);
  ASSERT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_EQ(p.multiProcessorCount, 8);
  DeviceBuffer<int> flag(std::vector<int>{0});
  EXPECT_THROW(launch_flag(flag.get(), dim3(1), dim3(512), 0), ae::Error) << "limit of the configured device";
  ae::sim::set_device_config(saved);
  EXPECT_EQ(flag.download()[0], 0);
}

// Each invalid configuration fails with the real runtime's error code, and the kernel never runs.
TEST(SimHost, InvalidLaunchesFailWithCudasErrorAndRunNothing) {
  struct Case {
    dim3 grid, block;
    size_t smem;
    const char* error;
  };
  const Case cases[] = {
      {dim3(1), dim3(1025), 0, "cudaErrorInvalidConfiguration"},       // too many threads
      {dim3(1), dim3(32, 32, 2), 0, "cudaErrorInvalidConfiguration"},  // 2048 threads in 3-D
      {dim3(1), dim3(1, 1, 65), 0, "cudaErrorInvalidConfiguration"},   // block z > 64
      {dim3(1), dim3(0), 0, "cudaErrorInvalidConfiguration"},          // empty block
      {dim3(0), dim3(32), 0, "cudaErrorInvalidConfiguration"},         // empty grid
      {dim3(1, 65536), dim3(32), 0, "cudaErrorInvalidConfiguration"},  // grid y too large
      {dim3(1, 1, 65536), dim3(32), 0, "cudaErrorInvalidConfiguration"},
      {dim3(1), dim3(32), 48 * 1024 + 1, "cudaErrorInvalidValue"},  // shared memory without opt-in
  };
  DeviceBuffer<int> flag(std::vector<int>{0});
  for (const auto& c : cases) {
    try {
      launch_flag(flag.get(), c.grid, c.block, c.smem);
      ADD_FAILURE() << "launch did not fail, expected " << c.error;
    } catch (const ae::Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(c.error), std::string::npos) << what;
      EXPECT_NE(what.find("flag_kernel"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(flag.download()[0], 0) << "an invalid launch must run nothing";
  launch_flag(flag.get(), dim3(1), dim3(1024), 48 * 1024);
  EXPECT_EQ(flag.download()[0], 1) << "the largest valid configuration runs";
}

TEST(SimHost, DynamicSharedMemoryNeedsOptInAboveDefault) {
  const int n = 1000;
  std::vector<float> x(n), y(n, 1.0f);
  for (int i = 0; i < n; ++i) x[size_t(i)] = float(i);
  DeviceBuffer<float> dx(x), dy(y);
  dynamic_smem_axpy(2.0f, dx.get(), dy.get(), n, 256 * sizeof(float));
  std::vector<float> r = dy.download();
  for (int i = 0; i < n; ++i) ASSERT_EQ(r[size_t(i)], 1.0f + 2.0f * float(i)) << i;

  const size_t big = 100 * 1024;
  EXPECT_THROW(dynamic_smem_axpy(1.0f, dx.get(), dy.get(), n, big), ae::Error);
  EXPECT_THROW(set_dynamic_smem_limit(228 * 1024), ae::Error) << "above the 227 KB opt-in limit";
  cudaGetLastError();
  set_dynamic_smem_limit(int(big));
  dynamic_smem_axpy(1.0f, dx.get(), dy.get(), n, big);
  r = dy.download();
  for (int i = 0; i < n; ++i) ASSERT_EQ(r[size_t(i)], 1.0f + 3.0f * float(i)) << i;
}

TEST(SimHost, StreamsAndEventsAreInOrder) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  const int n = 300;
  float* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&pinned), n * sizeof(float)), cudaSuccess);
  for (int i = 0; i < n; ++i) pinned[i] = float(i);
  DeviceBuffer<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  ASSERT_EQ(cudaEventRecord(start, s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(x.get(), pinned, n * sizeof(float), cudaMemcpyHostToDevice, s), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(y.get(), 0, n * sizeof(float), s), cudaSuccess);
  dynamic_smem_axpy(3.0f, x.get(), y.get(), n, 256 * sizeof(float), s);
  ASSERT_EQ(cudaMemcpyAsync(pinned, y.get(), n * sizeof(float), cudaMemcpyDeviceToHost, s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(stop, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  for (int i = 0; i < n; ++i) ASSERT_EQ(pinned[i], 3.0f * float(i));
  float ms = -1.0f;
  ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  cudaEvent_t never;
  ASSERT_EQ(cudaEventCreate(&never), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, never), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
  EXPECT_EQ(cudaEventDestroy(never), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
}

TEST(SimHost, CapturedGraphReplaysTheSameWork) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  const int m = 20, n = 17, k = 33;
  std::vector<float> a(size_t(m * k)), b(size_t(k * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(int(i % 7) - 3);
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(int(i % 5) - 2);
  DeviceBuffer<float> da(a), db(b), dc(static_cast<size_t>(m * n));
  std::vector<float> out(size_t(m * n), -7.0f);

  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
  cudaStreamCaptureStatus status;
  ASSERT_EQ(cudaStreamIsCapturing(s, &status), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusActive);
  ASSERT_EQ(cudaMemsetAsync(dc.get(), 0, m * n * sizeof(float), s), cudaSuccess);
  gemm_tiled(da.get(), db.get(), dc.get(), m, n, k, s);
  ASSERT_EQ(cudaMemcpyAsync(out.data(), dc.get(), m * n * sizeof(float), cudaMemcpyDeviceToHost, s), cudaSuccess);
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  size_t nodes = 0;
  ASSERT_EQ(cudaGraphGetNodes(graph, nullptr, &nodes), cudaSuccess);
  EXPECT_EQ(nodes, 3u);
  EXPECT_EQ(out[0], -7.0f) << "captured work must not run during capture";

  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  std::vector<float> ref(size_t(m * n), 0.0f);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) ref[size_t(i * n + j)] += a[size_t(i * k + p)] * b[size_t(p * n + j)];
  EXPECT_EQ(out, ref);

  // New inputs in the same buffers: the replay reads them (the pointers were captured, not the data).
  for (auto& v : a) v = -v;
  da.upload(a);
  std::fill(out.begin(), out.end(), -7.0f);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  for (auto& v : ref) v = -v + 0.0f;
  EXPECT_EQ(out, ref);

  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

TEST(SimHost, CaptureRulesFollowTheRealRuntime) {
  EXPECT_EQ(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal), cudaErrorStreamCaptureUnsupported)
      << "the legacy stream cannot capture";
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t graph = reinterpret_cast<cudaGraph_t>(1);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorIllegalState) << "no capture in progress";
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  cudaGetLastError();
}

// ---- deferred streams (the default): work on a created stream runs when the host needs it ----

// Pinned host memory, freed on every path.
struct Pinned {
  float* p = nullptr;
  explicit Pinned(int n) { AE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p), size_t(n) * sizeof(float))); }
  ~Pinned() { cudaFreeHost(p); }
};
struct Stream {
  cudaStream_t s = nullptr;
  explicit Stream(unsigned flags) { AE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, flags)); }
  ~Stream() { cudaStreamDestroy(s); }
};

TEST(SimStreams, DeferredWorkRunsOnlyWhenTheHostSynchronizes) {
  ASSERT_TRUE(ae::sim::deferred_streams()) << "AE_SIM_STREAMS=eager in the environment?";
  const int n = 200;
  Pinned h(n);
  for (int i = 0; i < n; ++i) h.p[i] = float(i);
  DeviceBuffer<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  Stream st(cudaStreamNonBlocking);
  ASSERT_EQ(cudaMemcpyAsync(x.get(), h.p, n * sizeof(float), cudaMemcpyHostToDevice, st.s), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(y.get(), 0, n * sizeof(float), st.s), cudaSuccess);
  dynamic_smem_axpy(3.0f, x.get(), y.get(), n, 256 * sizeof(float), st.s);
  ASSERT_EQ(cudaMemcpyAsync(h.p, y.get(), n * sizeof(float), cudaMemcpyDeviceToHost, st.s), cudaSuccess);
  // Nothing has run: a host that reads now (forgot to synchronize) sees its own old data, and a
  // default-stream copy does not wait for a non-blocking stream (y still holds cudaMalloc's NaNs).
  EXPECT_EQ(h.p[7], 7.0f);
  EXPECT_TRUE(std::isnan(y.download()[7]));
  ASSERT_EQ(cudaStreamSynchronize(st.s), cudaSuccess);
  for (int i = 0; i < n; ++i) ASSERT_EQ(h.p[i], 3.0f * float(i)) << i;
}

TEST(SimStreams, BlockingStreamsFinishBeforeDefaultStreamWork) {
  const int n = 64;
  Pinned h(n);
  for (int i = 0; i < n; ++i) h.p[i] = float(2 * i);
  DeviceBuffer<float> x(static_cast<size_t>(n));
  Stream st(cudaStreamDefault);
  ASSERT_EQ(cudaMemcpyAsync(x.get(), h.p, n * sizeof(float), cudaMemcpyHostToDevice, st.s), cudaSuccess);
  const auto back = x.download();  // cudaMemcpy on the legacy default stream
  for (int i = 0; i < n; ++i) ASSERT_EQ(back[size_t(i)], float(2 * i)) << i;
}

// The executor's double-buffered upload in miniature: a copy stream fills x and records an event,
// the compute stream waits for it before the kernel reads x. Without the wait, the kernel reads x
// before the (deferred) copy ran: the missing dependency shows as a wrong result.
TEST(SimStreams, StreamWaitEventOrdersTwoStreamsAndItsAbsenceIsCaught) {
  const int n = 300;
  for (bool wait : {true, false}) {
    SCOPED_TRACE(wait ? "with cudaStreamWaitEvent" : "without cudaStreamWaitEvent");
    Pinned in(n), out(n);
    for (int i = 0; i < n; ++i) in.p[i] = float(i), out.p[i] = -1.0f;
    DeviceBuffer<float> x(static_cast<size_t>(n)), y(std::vector<float>(size_t(n), 1.0f));
    Stream copy(cudaStreamNonBlocking), compute(cudaStreamNonBlocking);
    cudaEvent_t uploaded;
    ASSERT_EQ(cudaEventCreateWithFlags(&uploaded, cudaEventDisableTiming), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(x.get(), in.p, n * sizeof(float), cudaMemcpyHostToDevice, copy.s), cudaSuccess);
    ASSERT_EQ(cudaEventRecord(uploaded, copy.s), cudaSuccess);
    if (wait) ASSERT_EQ(cudaStreamWaitEvent(compute.s, uploaded, 0), cudaSuccess);
    dynamic_smem_axpy(2.0f, x.get(), y.get(), n, 256 * sizeof(float), compute.s);
    ASSERT_EQ(cudaMemcpyAsync(out.p, y.get(), n * sizeof(float), cudaMemcpyDeviceToHost, compute.s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(compute.s), cudaSuccess);
    if (wait) {
      for (int i = 0; i < n; ++i) ASSERT_EQ(out.p[i], 1.0f + 2.0f * float(i)) << i;
    } else {
      EXPECT_TRUE(std::isnan(out.p[5])) << "the kernel read x after the copy although nothing ordered them";
    }
    EXPECT_EQ(cudaEventDestroy(uploaded), cudaSuccess);
  }
}

TEST(SimStreams, PageableCopiesAreSynchronousAtTheirHostSide) {
  const int n = 32;
  std::vector<float> h(size_t(n), 5.0f), back(size_t(n), 0.0f);
  DeviceBuffer<float> x(static_cast<size_t>(n));
  Stream st(cudaStreamNonBlocking);
  // Host to device from pageable memory: the source is read at the call (CUDA stages it).
  ASSERT_EQ(cudaMemcpyAsync(x.get(), h.data(), n * sizeof(float), cudaMemcpyHostToDevice, st.s), cudaSuccess);
  std::fill(h.begin(), h.end(), 9.0f);
  // Device to pageable host memory: written before the call returns, after the stream's work.
  ASSERT_EQ(cudaMemcpyAsync(back.data(), x.get(), n * sizeof(float), cudaMemcpyDeviceToHost, st.s), cudaSuccess);
  for (float v : back) ASSERT_EQ(v, 5.0f);
}

TEST(SimStreams, EventsCompleteWithTheirRecord) {
  const int n = 64;
  DeviceBuffer<float> x(std::vector<float>(size_t(n), 1.0f)), y(std::vector<float>(size_t(n), 0.0f));
  Stream st(cudaStreamNonBlocking);
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(start, st.s), cudaSuccess);
  dynamic_smem_axpy(1.0f, x.get(), y.get(), n, 256 * sizeof(float), st.s);
  ASSERT_EQ(cudaEventRecord(stop, st.s), cudaSuccess);
  float ms = -1;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorNotReady) << "the records have not run yet";
  cudaGetLastError();
  ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
  ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  // A record still queued when its event is destroyed: the stream's work runs, nothing breaks.
  ASSERT_EQ(cudaEventRecord(start, st.s), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(st.s), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
}

// A failure in deferred work is the error of the call that runs it — a stream or event
// synchronize, a legacy-stream copy (for a blocking stream), cudaFree, cudaStreamDestroy — and is
// reported once.
TEST(SimStreams, DeferredKernelFailuresSurfaceAtTheCallThatRunsThem) {
  DeviceBuffer<int> scratch(32);
  const std::vector<float> host(4, 1.0f);
  {
    Stream st(cudaStreamNonBlocking);
    trap_on_stream(scratch.get(), st.s);  // queued: the launch itself succeeds
    EXPECT_EQ(cudaStreamSynchronize(st.s), cudaErrorLaunchFailure);
    EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure) << "and kept as the last error";
    EXPECT_EQ(cudaStreamSynchronize(st.s), cudaSuccess) << "reported once";
  }
  {
    Stream st(cudaStreamDefault);
    trap_on_stream(scratch.get(), st.s);
    DeviceBuffer<float> x(4);
    EXPECT_EQ(cudaMemcpy(x.get(), host.data(), 4 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorLaunchFailure);
    cudaGetLastError();
  }
  {
    Stream st(cudaStreamNonBlocking);
    float* tmp = nullptr;
    ASSERT_EQ(cudaMalloc(&tmp, 16), cudaSuccess);
    trap_on_stream(scratch.get(), st.s);
    EXPECT_EQ(cudaFree(tmp), cudaErrorLaunchFailure);
    cudaGetLastError();
  }
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  trap_on_stream(scratch.get(), s);
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaGetLastError();
}

// The legacy default stream does not wait for non-blocking streams: synchronizing it leaves their
// work queued (a host relying on it would read stale data on a GPU too).
TEST(SimStreams, LegacySynchronizeLeavesNonBlockingStreamsAlone) {
  const int n = 8;
  Pinned h(n);
  for (int i = 0; i < n; ++i) h.p[i] = 0.0f;
  DeviceBuffer<float> x(std::vector<float>(size_t(n), 6.0f));
  Stream st(cudaStreamNonBlocking);
  ASSERT_EQ(cudaMemcpyAsync(h.p, x.get(), n * sizeof(float), cudaMemcpyDeviceToHost, st.s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(nullptr), cudaSuccess);
  EXPECT_EQ(h.p[0], 0.0f);
  ASSERT_EQ(cudaStreamSynchronize(st.s), cudaSuccess);
  EXPECT_EQ(h.p[0], 6.0f);
}

// An event completes with its latest record only, and a new event is never taken for an old one.
TEST(SimStreams, EventsFollowTheirLatestRecordOnly) {
  Stream a(cudaStreamNonBlocking), b(cudaStreamNonBlocking);
  cudaEvent_t e;
  ASSERT_EQ(cudaEventCreate(&e), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e, a.s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e, b.s), cudaSuccess);  // overtakes the record queued on a
  ASSERT_EQ(cudaStreamSynchronize(a.s), cudaSuccess);
  float ms = 0;
  EXPECT_EQ(cudaEventElapsedTime(&ms, e, e), cudaErrorNotReady) << "a's (overtaken) record completed the event";
  cudaGetLastError();
  ASSERT_EQ(cudaStreamSynchronize(b.s), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&ms, e, e), cudaSuccess);
  // Destroyed with a record queued; a new event (possibly at the same address) is not recorded.
  ASSERT_EQ(cudaEventRecord(e, a.s), cudaSuccess);
  ASSERT_EQ(cudaEventDestroy(e), cudaSuccess);
  cudaEvent_t fresh;
  ASSERT_EQ(cudaEventCreate(&fresh), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(a.s), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&ms, fresh, fresh), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
  EXPECT_EQ(cudaEventDestroy(fresh), cudaSuccess);
}

// Inside a capture a plain record only orders the capture (no node the host can time), and waiting
// on an event recorded outside the capture is refused, as CUDA does without the External flags.
TEST(SimStreams, EventsInsideACaptureFollowCudasRules) {
  Stream st(cudaStreamNonBlocking), other(cudaStreamNonBlocking);
  cudaEvent_t inside, outside;
  ASSERT_EQ(cudaEventCreate(&inside), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&outside), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(outside, other.s), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaEventRecord(inside, st.s), cudaSuccess);
  EXPECT_EQ(cudaStreamWaitEvent(st.s, inside, 0), cudaSuccess);
  cudaGraph_t g = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(st.s, &g), cudaSuccess);
  size_t nodes = 1;
  ASSERT_EQ(cudaGraphGetNodes(g, nullptr, &nodes), cudaSuccess);
  EXPECT_EQ(nodes, 0u);
  float ms = 0;
  EXPECT_EQ(cudaEventElapsedTime(&ms, inside, inside), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaGraphDestroy(g), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaStreamWaitEvent(st.s, outside, 0), cudaErrorStreamCaptureIsolation);
  EXPECT_EQ(cudaStreamEndCapture(st.s, &g), cudaErrorStreamCaptureInvalidated);
  cudaGetLastError();
  EXPECT_EQ(cudaEventDestroy(inside), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(outside), cudaSuccess);
}

// One thread creates, fills and destroys streams while another synchronizes the device: a drain
// never touches a stream being destroyed (the ASan build of this test catches a use after free).
TEST(SimStreams, DestroyingStreamsWhileAnotherThreadSynchronizesIsSafe) {
  DeviceBuffer<float> x(std::vector<float>(64, 1.0f)), y(std::vector<float>(64, 0.0f));
  std::atomic<bool> done{false};
  std::thread sync([&] {
    while (!done) EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  });
  for (int i = 0; i < 300; ++i) {
    cudaStream_t s;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, i % 2 ? cudaStreamNonBlocking : cudaStreamDefault), cudaSuccess);
    ASSERT_EQ(cudaMemsetAsync(y.get(), 0, 64 * sizeof(float), s), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(y.get(), x.get(), 64 * sizeof(float), cudaMemcpyDeviceToDevice, s), cudaSuccess);
    ASSERT_EQ(cudaStreamDestroy(s), cudaSuccess);
  }
  done = true;
  sync.join();
  EXPECT_EQ(y.download()[63], 1.0f);
}

TEST(SimStreams, EagerModeRunsWorkAtEnqueue) {
  ae::sim::set_deferred_streams(false);
  struct Restore {
    ~Restore() { ae::sim::set_deferred_streams(true); }
  } restore;
  const int n = 16;
  Pinned h(n);
  for (int i = 0; i < n; ++i) h.p[i] = 0.0f;
  DeviceBuffer<float> x(std::vector<float>(size_t(n), 4.0f));
  Stream st(cudaStreamNonBlocking);
  ASSERT_EQ(cudaMemcpyAsync(h.p, x.get(), n * sizeof(float), cudaMemcpyDeviceToHost, st.s), cudaSuccess);
  EXPECT_EQ(h.p[3], 4.0f);
}

}  // namespace
}  // namespace ae::simtest
