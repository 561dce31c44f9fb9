// GPU timings for `ae bench --device cuda`, all taken with cudaEvents: the backend's own training
// and encode steps (its CUDA graph, replayed by Executor::run), each Plan op of a step run op by op,
// and cuBLASLt (fp32, bias / bias+ReLU epilogue) on the GEMM shape of every dense_fwd beside ae's
// kernel. The events are recorded on the backend's compute stream through the executor's boundary
// hook (OpContext::on_boundary), so what is timed is what the backend runs. The event timings also
// build for cuda-sim, where a test checks their mechanics; there the "times" are host time and are
// never reported (ae bench refuses cuda-sim). compare_gemms needs cuBLASLt: nvcc build only
// (-DAE_ENABLE_CUDA=ON, which defines AE_HAVE_CUDA_BENCH for the ae command).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/optimizer.h"

namespace ae {

class Executor;

namespace cuda_bench {

struct DeviceLabel {
  std::string name;           // cudaDeviceProp::name
  int sm_count = 0;           // multiProcessorCount
  int cc_major = 0, cc_minor = 0;
  double mem_gib = 0;         // totalGlobalMem
};

struct Repeat {
  int64_t warmup = 10;  // untimed replays / sequences first
  int64_t steps = 50;   // graph replays per timed run (whole step)
  int64_t runs = 7;     // timed runs; medians are reported
};

// One Plan op timed inside the op sequence of a step (the caches as the step leaves them).
struct OpTiming {
  int index = 0;        // position in plan.ops
  std::string op;       // plan_op_kind_name
  std::string kernel;   // op with its activation / loss, e.g. "dense_fwd(relu)"
  int64_t m = 0, n = 0, k = 0;
  double ms = 0;        // median over runs
  double gflops = 0;    // PlanOp::flops / time
  double gbps = 0;      // PlanOp::bytes / time
};

// One dense_fwd GEMM shape, ae's kernel and cuBLASLt each timed alone, back to back, into scratch
// outputs; max_abs_diff compares the two outputs (a layout or epilogue mistake shows up here).
struct GemmComparison {
  int index = 0;             // position in plan.ops
  int64_t m = 0, n = 0, k = 0;
  std::string act;           // ae's fused activation
  std::string epilogue;      // cuBLASLt epilogue used: "bias+relu", "bias", "relu", "none"
  bool comparable = false;   // the epilogue computes the same function as ae's activation
  double ae_ms = 0, cublas_ms = 0;
  double ratio = 0;          // ae_ms / cublas_ms (> 1: ae is slower)
  double max_abs_diff = 0;   // over the output, only meaningful when comparable
};

DeviceLabel device_label();

// GPU time per step in ms, one entry per timed run (each the mean of `steps` steps): the
// executor's Plan run by Executor::run at its full batch, i.e. one replay of the backend's CUDA
// graph, between two events on the compute stream. Each call is a real step (a train plan updates
// the weights); `step` is the optimizer step counter, advanced by every step run here. `opt` is
// needed for train plans. Inputs are whatever the executor's staging buffers hold.
std::vector<double> time_graph_steps(Executor& ex, const cpu::OptConfig* opt, int64_t& step, const Repeat& r);

// Every op of the executor's Plan, run op by op (no graph) by Executor::run with an event at every
// boundary, warmup + runs steps; medians over the runs.
std::vector<OpTiming> time_ops(Executor& ex, const cpu::OptConfig* opt, int64_t& step, const Repeat& r);

#if !defined(AE_CUDA_BACKEND_SIM)
// cuBLASLt beside ae's dense_forward on the shape of every dense_fwd op of the Plan, each kernel
// alone on a stream of its own into scratch outputs (nvcc build only).
std::vector<GemmComparison> compare_gemms(Executor& ex, const Repeat& r);
#endif

}  // namespace cuda_bench
}  // namespace ae
