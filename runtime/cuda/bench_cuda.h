// GPU timings for `ae bench --device cuda`, all taken with cudaEvents on one stream of a real GPU:
// the whole step as one CUDA graph replayed back to back, each Plan op between its own event pair,
// and cuBLASLt (fp32, bias / bias+ReLU epilogue) on the GEMM shape of every dense_fwd beside ae's
// kernel. Only the nvcc build (-DAE_ENABLE_CUDA=ON, which defines AE_HAVE_CUDA_BENCH for its
// consumers) has these functions; the cuda-sim build never times anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/optimizer.h"

namespace ae {

class Executor;
class ParamStore;

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

// Median of `runs` runs of `steps` replays of the executor's Plan captured as one CUDA graph on a
// bench stream: GPU time per step in ms. The executor must have run once (device state ready);
// `opt` is needed for train plans. Inputs, weights and optimizer state are the executor's own.
std::vector<double> time_graph_steps(Executor& ex, ParamStore& params, const cpu::OptConfig* opt, const Repeat& r);

// Every op of the executor's Plan, launched in plan order with an event pair around each, the
// sequence repeated warmup + runs times.
std::vector<OpTiming> time_ops(Executor& ex, ParamStore& params, const cpu::OptConfig* opt, const Repeat& r);

// cuBLASLt beside ae's dense_forward on the shape of every dense_fwd op of the Plan.
std::vector<GemmComparison> compare_gemms(Executor& ex, const Repeat& r);

}  // namespace cuda_bench
}  // namespace ae
