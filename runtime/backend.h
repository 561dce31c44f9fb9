// The backend interface and registry. A backend runs Plan ops on memory the Executor owns.
// The public, non-virtual run() validates an op once (supported? operands present and sized?)
// and then calls the backend's run_op(). `cpu` is the reference every other backend is checked
// against; `cuda` and `cuda-sim` register here when they are built.
//
// Memory: a host backend (cpu) runs on host pointers and has no Device. A device backend (cuda,
// cuda-sim) returns its Device: the Executor then keeps the arena, a mirror of the ParamStore and
// the input slots in device memory, stages inputs through pinned host buffers, and reads results
// back only when asked. launch_plan()/finish_plan() run a whole Plan; a device backend may capture
// it into a CUDA graph once and replay it.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "kernels/common/step_scalars.h"
#include "kernels/cpu/optimizer.h"
#include "runtime/params.h"

namespace ae {

struct PlanCache;

// What one op needs to run: pointers for tensor ids, the actual batch, the optimizer, and the
// values that change every step. Both backends read the step values from here; a device backend
// also copies them into its device-resident StepScalars block before each launch (kernels read the
// block, so a replayed CUDA graph sees them), the cpu backend reads them directly.
struct OpContext {
  const Plan* plan = nullptr;
  std::function<float*(int tensor)> ptr;   // arena or parameter store; nullptr for -1
  ParamStore* params = nullptr;
  int64_t batch = 0;                       // rows in this run, 1 ≤ batch ≤ plan->batch
  const cpu::OptConfig* opt = nullptr;     // train plans only: every group's optimizer, unless...
  // ...group_opt[g] gives group g its own (kind and hyperparameters; the rate is lr[g] either way).
  std::array<const cpu::OptConfig*, MAX_PARAM_GROUPS> group_opt{};
  const cpu::OptConfig* opt_for(int group) const { return group_opt[size_t(group)] ? group_opt[size_t(group)] : opt; }
  int64_t step = 0;                        // 1-based optimizer step; 0 outside training
  uint64_t seed = 0;                       // the model's seed: Philox key of per-step draws
  uint64_t row_offset = 0;                 // data rows before this batch (StepScalars::row_offset)
  int group_count = 0;                     // parameter groups with a learning rate this step
  // Each group's learning rate this step (after the schedule), for groups [0, group_count).
  std::array<double, MAX_PARAM_GROUPS> lr{};
  float loss_scale = 1;                    // fp16 dynamic loss scale (1 until mixed precision)
  double loss = 0;                         // written by loss ops (double precision; host backends)
  // The optimizer state ([slots × size]) of param i in optimizer group g (the group the plan's
  // optimizer_step trains it under: ParamStore::state(i, g)), or nullptr.
  std::function<float*(int param, int group)> state;
  int variant = 0;                         // which input slot the pointers name (device graphs are per slot)
  bool use_graph = true;                   // device backends: capture/replay allowed for this run
  // Called on the host as the backend enqueues the plan: on_boundary(i) just before op i and
  // on_boundary(ops.size()) after the last; a device backend replaying a CUDA graph calls only 0
  // and ops.size(), around the graph launch, and never while capturing. `ae bench --device cuda`
  // records its cudaEvents here (runtime/cuda/bench_cuda.cpp), so it times what the backend runs.
  std::function<void(size_t boundary)> on_boundary;
  // The caller writes parameter values on the host only with a ParamStore::version() bump, so the
  // backend may keep host-side copies derived from them (the cpu backend's packed weights) and
  // refresh them by version. Off for a plain Executor, which may be run after values were poked.
  bool params_versioned = false;
  // The calling Executor's PlanCache while launch_plan runs the plan (what the backend keeps
  // between runs, e.g. the cpu backend's packed weights); nullptr outside it.
  PlanCache* cache = nullptr;
};

// Device memory and streams of a device backend. Two input slots let the upload of batch i+1 (copy
// stream) overlap the compute of batch i (compute stream), ordered by events.
class Device {
 public:
  virtual ~Device() = default;
  virtual void* allocate(size_t bytes) = 0;          // device memory from the caching pool
  virtual void deallocate(void* p) = 0;              // back to the pool's cache
  virtual void* allocate_pinned(size_t bytes) = 0;   // page-locked host memory, zeroed
  virtual void deallocate_pinned(void* p) = 0;
  // Synchronous copies, ordered after all work on the compute stream.
  virtual void upload(void* dst_device, const void* src_host, size_t bytes) = 0;
  virtual void download(void* dst_host, const void* src_device, size_t bytes) = 0;
  // Input slot s (0 or 1): upload_input enqueues the copy on the copy stream after the compute work
  // that last consumed slot s; begin_consume makes the compute stream wait for it; end_consume marks
  // the slot free again once the work enqueued so far is done; wait_staging blocks the host until
  // the slot's last upload has read its pinned source (before the host overwrites it).
  virtual void upload_input(int slot, void* dst_device, const void* src_pinned, size_t bytes) = 0;
  virtual void begin_consume(int slot) = 0;
  virtual void end_consume(int slot) = 0;
  virtual void wait_staging(int slot) = 0;
  virtual void synchronize() = 0;
  // Pool statistics: bytes reserved, in use, peak, allocations served from the cache.
  virtual std::string memory_report() const = 0;
  // For a memory checker (cuda-sim's memcheck): bytes to leave unused between arena buffers, so an
  // access just past one lands in a gap instead of its neighbour, and a name for a range of device
  // memory that the checker's reports use. Neither does anything on a real device.
  virtual size_t guard_bytes() const { return 0; }
  virtual void name_memory(const void* p, size_t bytes, const std::string& name) { (void)p, (void)bytes, (void)name; }
};

// What a backend keeps between runs of one Executor's Plan (captured graphs, device tables).
struct PlanCache {
  virtual ~PlanCache() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;   // kernels/libraries it runs on
  virtual bool supports(const PlanOp& op) const = 0;
  // Whether plans of precision p (Plan::precision_setting(); fp32 always) run here: "" when they
  // do, else the one-line reason, which the Executor raises before it allocates anything.
  virtual std::string precision_support(Precision p) const;
  void run(const PlanOp& op, OpContext& ctx);    // validates, then run_op
  virtual Device* device() { return nullptr; }  // nullptr: ops take host pointers
  // Runs (or, on a device, enqueues) every op of ctx.plan; finish_plan waits for it and returns
  // the loss (0 for plans without one). `cache` belongs to the caller, one per Executor.
  virtual void launch_plan(OpContext& ctx, std::unique_ptr<PlanCache>& cache);
  virtual double finish_plan(OpContext& ctx, PlanCache* cache) { return ctx.loss; }

 protected:
  virtual void run_op(const PlanOp& op, OpContext& ctx) = 0;
  // Every op of ctx.plan through run(), in order, with ctx.on_boundary around each.
  void run_ops(OpContext& ctx);
};

using BackendFactory = std::function<std::unique_ptr<Backend>()>;
void register_backend(const std::string& name, BackendFactory factory, std::function<bool()> available);
// "auto" picks cuda when a device is present, else cpu. Unknown or unavailable names are errors
// that list what this build has.
std::unique_ptr<Backend> make_backend(const std::string& name);
std::vector<std::string> backend_names();

}  // namespace ae
