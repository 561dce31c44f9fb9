// GPU timings for `ae bench --device cuda`, all taken with cudaEvents: the backend's own training
// and encode steps (its CUDA graph, replayed by Executor::run), each Plan op of a step run op by op,
// and cuBLASLt (fp32, bias / bias+ReLU epilogue) on the GEMM shape of every dense_fwd beside ae's
// kernel. The events are recorded on the backend's compute stream through the executor's boundary
// hook (OpContext::on_boundary), so what is timed is what the backend runs. The event timings also
// build for cuda-sim, where a test checks their mechanics; there the "times" are host time and are
// never reported (ae bench refuses cuda-sim). compare_gemms needs cuBLASLt: nvcc build only
// (-DAE_ENABLE_CUDA=ON, which defines AE_HAVE_CUDA_BENCH for the ae command); so does
// compare_convs (runtime/cuda/bench_cudnn.cpp), which needs cuDNN too and says so without it.
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

// One pass of one convolution layer, ae's kernel and cuDNN's call each timed alone, back to back,
// on the same Philox inputs in [-1, 1) (scratch, not the arena), into scratch outputs.
struct ConvComparison {
  int index = 0;             // position in plan.ops (a conv_fwd, or a conv_bwd for the two gradients)
  std::string pass;          // "fwd", "bwd_data", "bwd_filter"
  std::string layer;         // e.g. "Conv2d 1→16 28x28 k3x3 s2 p1" or "ConvT 32→16 7x7 k3x3 s2 p1 op1"
  std::string cudnn_call;    // "ConvolutionForward", "ConvolutionBackwardData", "ConvolutionBackwardFilter"
  std::string ae_work;       // what ae's time covers besides the convolution: "bias+relu", "-" (dz given)
  std::string algo;          // cuDNN's algorithm, the fastest FMA-math one cudnnFind*AlgorithmEx measured
  double workspace_mib = 0;  // that algorithm's workspace
  double ae_ms = 0, cudnn_ms = 0;
  double ratio = 0;          // ae_ms / cudnn_ms (> 1: ae is slower)
  double max_abs_diff = 0;   // ae's output against cuDNN's (with ae's bias + activation applied on the host)
  double worst_vs_bound = 0; // max |Δ| / bound over the output; ≤ 1 passes (NaN/Inf: infinity)
  bool within_tolerance = false;
  std::string skipped;       // non-empty: this pass was not compared, and why
};
struct ConvComparisons {
  bool cudnn = false;  // this build has cuDNN (found at configure time)
  std::string note;    // what the times cover; without cuDNN, why nothing was compared
  std::vector<ConvComparison> rows;
};

// cuDNN (fp32, NCHW, no TF32) beside ae's conv2d_forward / conv2d_backward on every conv_fwd
// (forward) and conv_bwd (data and weight gradient, each alone) op of the Plan (nvcc build only;
// without cuDNN in the build, `cudnn` is false and `note` says so).
ConvComparisons compare_convs(Executor& ex, const Repeat& r);
#endif

}  // namespace cuda_bench
}  // namespace ae
